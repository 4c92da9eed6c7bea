"""The OpenAPI schema tells the truth about errors and nulls, in one place.

Every operation lists the error statuses it can answer with, each with the one error body
of :mod:`annotator.errors` (``{"code", "detail", "field"?}``, plus fields that help such as
``current_version``). Which statuses an operation can give mostly follows from its shape:
any request may carry a bad token (401); a request body can be malformed (400), too large
(413) or of a media type the operation does not take (415); an unsafe method may need a
higher role or fail a session's CSRF check (403); a path parameter may name nothing the
caller can see (404). The few operations that can clash with the state of something (409)
or need the SAM2 model (503) are named in :data:`EXTRA_STATUSES`.

``tests/projects/test_schema_fuzz.py`` fuzzes the live API against this schema: a status,
a null or a body shape missing here fails the suite.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_basic_type, build_parameter_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import permissions, serializers

from annotator.api.permissions import ProjectRolePermission
from annotator.choices import Role

# Path parameters of this API are all integer primary keys.
INTEGER_PATH_PARAMETERS = ("id", "pk", "project_pk", "image_pk")

# Permissions that refuse with 403 only through ``required_roles`` (401 is listed anyway).
ROLE_PERMISSIONS = (permissions.AllowAny, permissions.IsAuthenticated, ProjectRolePermission)

# (view class, action or lower-case method) -> statuses besides those the shape gives.
EXTRA_STATUSES: dict[tuple[str, str], tuple[int, ...]] = {
    # Stale version, locked for review, a review step from the wrong state; a deletion
    # names its version in the body or If-Match (400 if that is not a number).
    ("AnnotationViewSet", "partial_update"): (409,),
    ("AnnotationViewSet", "destroy"): (400, 409),
    ("AnnotationViewSet", "submit"): (409,),
    ("AnnotationViewSet", "approve"): (409,),
    ("AnnotationViewSet", "reject"): (409,),
    # Regularisation saves through the annotation update: stale version, locked for review.
    ("RegulariseViewSet", "create"): (409,),
    # A project keeps at least one owner.
    ("MembershipViewSet", "update"): (409,),
    ("MembershipViewSet", "partial_update"): (409,),
    ("MembershipViewSet", "destroy"): (409,),
    # A label class that annotations use is archived, not deleted (in_use).
    ("LabelClassViewSet", "destroy"): (409,),
    # Only queued or running jobs are cancelled.
    ("JobViewSet", "cancel"): (409,),
    # A job still running with a fresh heartbeat, one that succeeded, or one a newer job replaced.
    ("JobViewSet", "retry"): (409,),
    # ?project= names a project the caller is not a member of.
    ("TaskViewSet", "list"): (404,),
    ("TaskViewSet", "next"): (404,),
    # An export is downloaded once it has finished.
    ("ExportViewSet", "download"): (409,),
    # Segmenting needs the image's SAM2 features (409: not ingested, encoding_area while the
    # click's windows are encoded first, encoding_failed), the model's checkpoint and room in
    # the decoder's queue (503).
    ("ImageSegmentView", "post"): (409, 503),
    # The annotate page's view names windows under the model's cache key (503 without a checkpoint).
    ("ImageViewSet", "encode_focus"): (503,),
    # A drafts run needs the image's SAM2 features (409) and the model's checkpoint (503).
    ("ImageDraftRunViewSet", "create"): (409, 503),
    # An invitation link already used or expired, or a caller already a member.
    ("InvitationAcceptView", "post"): (409,),
    # User accounts are for staff only, reads included; staff cannot lock themselves out,
    # and a deactivated account gets no password link.
    ("UserViewSet", "list"): (403,),
    ("UserViewSet", "retrieve"): (403,),
    ("UserViewSet", "partial_update"): (409,),
    ("UserViewSet", "password_link"): (409,),
}

ERROR_DESCRIPTIONS = {
    400: "The request is not valid (`code`: invalid, parse_error...; `field` names the culprit).",
    401: "No credentials, or a token that is not valid.",
    403: "The caller's role does not allow this (or the CSRF check of a session failed).",
    404: "Nothing of that id in a project the caller is a member of.",
    409: "The request clashes with the current state "
    "(`code`: conflict, stale_version, locked_for_review, label_required, in_use...).",
    413: "The request body or uploaded file is larger than the server accepts.",
    415: "The request body's media type is not one the operation accepts.",
    503: "The server cannot do this now (`code`: checkpoint_missing, or busy: too many clicks queued).",
}


class ErrorSerializer(serializers.Serializer):
    """The body of every API error (see :mod:`annotator.errors`); some errors add fields."""

    code = serializers.CharField(help_text="machine-readable: branch on this, not on the status")
    detail = serializers.CharField(help_text="a sentence for the user")
    field = serializers.CharField(required=False, help_text="the request field at fault, if one is")


def reads_through_null(field: serializers.Field) -> bool:
    """Whether a read-only field's ``source`` passes through a nullable model field.

    ``CharField(source="author.username", read_only=True)`` gives null when the annotation
    has no author; so does ``JobSerializer(read_only=True)`` for an export without a job.
    DRF knows this at run time; drf-spectacular only looks at ``allow_null``.
    """
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not getattr(field, "source_attrs", None):
        return False
    for name in field.source_attrs:
        try:
            model_field = model._meta.get_field(name)
        except (FieldDoesNotExist, AttributeError):
            return False
        if model_field.one_to_many or model_field.many_to_many:
            return False  # a list, empty rather than null
        if getattr(model_field, "null", False):
            return True
        model = model_field.related_model
        if model is None:
            return False
    return False


class GeopromptAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema with the error responses, integer ids, open endpoints and
    read-only fields that say when they can be null."""

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if isinstance(field, serializers.Field) and field.read_only and reads_through_null(field):
            meta["nullable"] = True
        return meta

    def _resolve_path_parameters(self, variables: list[str]) -> list[dict]:
        integers = [v for v in variables if v in INTEGER_PATH_PARAMETERS]
        parameters = [
            build_parameter_type(name=v, schema=build_basic_type(OpenApiTypes.INT), location=OpenApiParameter.PATH)
            for v in integers
        ]
        return parameters + super()._resolve_path_parameters([v for v in variables if v not in integers])

    def get_auth(self) -> list[dict]:
        """Operations that need no login (the token endpoint) say so with an empty requirement."""
        auths = super().get_auth()
        if not self.view.get_permissions() and {} not in auths:
            auths.append({})
        return auths

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        for status in sorted(self.error_statuses()):
            if str(status) not in responses:
                response = OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status])
                responses[str(status)] = self._get_response_for_code(response, str(status), direction=direction)
        return responses

    def _action(self) -> str:
        return getattr(self.view, "action", None) or self.method.lower()

    def error_statuses(self) -> set[int]:
        """The error statuses this operation can answer with."""
        statuses = {401}
        if self.method in ("POST", "PUT", "PATCH"):
            statuses |= {400, 413, 415}
        if self.get_override_parameters():  # query parameters that are validated
            statuses.add(400)
        if self.method not in permissions.SAFE_METHODS:  # a role above the caller's, or no CSRF token
            statuses.add(403)
        required_role = getattr(self.view, "required_roles", {}).get(self._action())
        if required_role not in (None, Role.VIEWER):
            statuses.add(403)
        if any(not isinstance(p, ROLE_PERMISSIONS) for p in self.view.get_permissions()):
            statuses.add(403)  # a rule of the view's own (staff only...)
        if "{" in self.path:
            statuses.add(404)
        statuses.update(EXTRA_STATUSES.get((type(self.view).__name__, self._action()), ()))
        return statuses
