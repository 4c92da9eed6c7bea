"""One exception hierarchy for the domain, and the one table that maps error codes to HTTP.

Services raise plain exception classes, each with a machine-readable ``code``; the API
answers every error, ours and DRF's and Django's alike, with the JSON body
``{"code": ..., "detail": ...}`` (plus fields that help, such as ``field`` or
``current_version``) and the status :data:`HTTP_STATUS` gives for the code. Clients
branch on ``code``, never on the bare status: a 409 may be a stale version or an
annotation locked for review, and each asks the user for something different.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback


class GeopromptError(Exception):
    """Base of every error the services raise on purpose. ``message`` is shown to users."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "detail": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body


class InvalidInput(GeopromptError):
    code = "invalid"


class InvalidRaster(InvalidInput):
    """An uploaded file that cannot become a Geoprompt image (not a raster, no georeference...)."""

    code = "invalid_raster"


class UploadTooLarge(GeopromptError):
    code = "too_large"


class NotFound(GeopromptError):
    code = "not_found"


class PermissionDenied(GeopromptError):
    code = "forbidden"


class Conflict(GeopromptError):
    """The request clashes with the current state of something (a generic 409)."""

    code = "conflict"


class StaleVersion(Conflict):
    """An edit names a version of the annotation that is no longer the current one."""

    code = "stale_version"


class LockedForReview(Conflict):
    """An author changes their annotation while it is submitted or approved."""

    code = "locked_for_review"


class JobRunning(Conflict):
    """A job asked to run again while its worker still reports (a fresh heartbeat)."""

    code = "job_running"


class InvalidTransition(Conflict):
    """A review step that does not start from the annotation's state (approving a draft...)."""

    code = "invalid_transition"


class InvitationUsed(Conflict):
    """An invitation link that has already been accepted (each works once)."""

    code = "invitation_used"


class InvitationExpired(Conflict):
    """An invitation link past its expiry (``GEOPROMPT_INVITATION_MAX_AGE_DAYS``)."""

    code = "invitation_expired"


class EncodingArea(Conflict):
    """A click on windows whose SAM2 features are not stored yet: they are being encoded first; retry."""

    code = "encoding_area"


class EncodingFailed(Conflict):
    """The encode job that had a click's windows failed; a new click asks again."""

    code = "encoding_failed"


# --- label rules: label classes in use, what a submit needs ---------------------------


class InUse(Conflict):
    """A label class that annotations use cannot be deleted (archive it instead)."""

    code = "in_use"


class LabelRequired(Conflict):
    """A submit of an annotation without a label class, in a project that requires one."""

    code = "label_required"


class AttributesRequired(Conflict):
    """A submit of an annotation whose required attributes (of its label class) are missing."""

    code = "attributes_required"


# --- resumable uploads (tus) and imports by reference ---------------------------------


class OffsetMismatch(Conflict):
    """A tus PATCH whose Upload-Offset is not the bytes the server holds (tus: 409)."""

    code = "offset_mismatch"


class ChecksumMismatch(GeopromptError):
    """A tus PATCH whose bytes do not match its Upload-Checksum (tus: 460); they are discarded."""

    code = "checksum_mismatch"


class TusVersionUnsupported(GeopromptError):
    """A tus request without ``Tus-Resumable: 1.0.0`` (tus: 412)."""

    code = "tus_version_unsupported"


class UploadExpired(GeopromptError):
    """A tus upload past its expiry (its parts are deleted, or about to be: tus: 410)."""

    code = "upload_expired"


class ImportRefused(PermissionDenied):
    """Import by reference of a URL the deployment does not allow (not on the allowlist, a private address...)."""

    code = "import_refused"


class ImportUnreachable(InvalidInput):
    """A URL to import that could not be read (no answer, an HTTP error, not a STAC item with that asset)."""

    code = "import_unreachable"


class CheckpointMissing(GeopromptError):
    """No SAM2 checkpoint file, and untrained weights are not allowed: the server's to fix."""

    code = "checkpoint_missing"


class DecoderBusy(GeopromptError):
    """The web process's queue of clicks waiting for the SAM2 decoder is full: try again shortly."""

    code = "busy"


class StorageError(GeopromptError):
    code = "storage"


# The one place where an error code becomes an HTTP status. Codes of DRF's and Django's own
# errors are here too, so that every error body has a code the client can branch on.
HTTP_STATUS: dict[str, int] = {
    "invalid": 400,
    "invalid_raster": 400,
    "parse_error": 400,
    "bad_request": 400,
    "not_authenticated": 401,
    "authentication_failed": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "conflict": 409,
    "job_running": 409,
    "stale_version": 409,
    "locked_for_review": 409,
    "invalid_transition": 409,
    "invitation_used": 409,
    "invitation_expired": 409,
    "in_use": 409,
    "label_required": 409,
    "encoding_area": 409,
    "encoding_failed": 409,
    "attributes_required": 409,
    "offset_mismatch": 409,
    "too_large": 413,
    "tus_version_unsupported": 412,
    "upload_expired": 410,
    "checksum_mismatch": 460,
    "import_refused": 403,
    "import_unreachable": 400,
    "unsupported_media_type": 415,
    "throttled": 429,
    "error": 500,
    "server_error": 500,
    "storage": 500,
    "checkpoint_missing": 503,
    "busy": 503,
}

# DRF's and Django's exceptions -> our codes (checked in order: subclasses first).
_FOREIGN_CODES: tuple[tuple[type[Exception], str], ...] = (
    (exceptions.ValidationError, "invalid"),
    (exceptions.ParseError, "parse_error"),
    (exceptions.AuthenticationFailed, "authentication_failed"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.PermissionDenied, "forbidden"),
    (DjangoPermissionDenied, "forbidden"),
    (exceptions.NotFound, "not_found"),
    (Http404, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "throttled"),
    (RequestDataTooBig, "too_large"),
)

TOO_LARGE_DETAIL = "The request body is larger than the server accepts."


def code_of(exc: Exception) -> str | None:
    """The error code of an exception, or None for one that is not a known client error."""
    if isinstance(exc, GeopromptError):
        return exc.code
    for kind, code in _FOREIGN_CODES:
        if isinstance(exc, kind):
            return code
    if isinstance(exc, exceptions.APIException):
        return exc.default_code
    return None


def error_body(code: str, detail: str, **more: Any) -> dict[str, Any]:
    """The JSON body of every API error."""
    return {"code": code, "detail": detail, **more}


def _first_message(errors: Any) -> tuple[str | None, str]:
    """The first (field, message) of DRF validation errors, however deeply nested."""
    if isinstance(errors, dict):
        for name, value in errors.items():
            inner_field, message = _first_message(value)
            field = None if name in ("non_field_errors", "detail") else name
            return (f"{field}.{inner_field}" if field and inner_field else field or inner_field), message
        return None, "The request is not valid."
    if isinstance(errors, list):
        for value in errors:
            return _first_message(value)
        return None, "The request is not valid."
    return None, str(errors)


def _validation_body(data: Any) -> dict[str, Any]:
    """DRF's field errors (``{"name": ["This field is required."]}``) kept as DRF puts them,
    beside ``code``, ``detail`` (the first message) and ``field`` (the first field at fault)."""
    field, message = _first_message(data)
    body = error_body("invalid", f"{field}: {message}" if field else message)
    if field:
        body["field"] = field.split(".")[0]
    if isinstance(data, dict):
        for name, errors in data.items():
            body.setdefault(name, errors)  # a request field called "code" or "detail" keeps ours
    else:
        body["errors"] = data
    return body


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every error becomes ``{"code", "detail"}`` with the table's status.

    DRF's own handler runs first for what it adds besides the body (``WWW-Authenticate``,
    ``Retry-After``, rolling back an atomic request). Unexpected exceptions are left to
    Django, whose ``handler500`` answers API paths in JSON too.
    """
    if isinstance(exc, GeopromptError):
        set_rollback()
        return Response(exc.as_dict(), status=HTTP_STATUS[exc.code])
    code = code_of(exc)
    if code is None:
        return None
    # DRF knows all of these but RequestDataTooBig (a body over DATA_UPLOAD_MAX_MEMORY_SIZE).
    response = exception_handler(exc, context) or Response({"detail": TOO_LARGE_DETAIL})
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(response.data)
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        response.data = error_body(code, str(detail))
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data["wait_s"] = exc.wait
    response.status_code = HTTP_STATUS.get(code, response.status_code)
    return response


# --- Django's error views: JSON under /api/, the usual HTML pages elsewhere --------------


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def _json_error(code: str, detail: str) -> JsonResponse:
    return JsonResponse(error_body(code, detail), status=HTTP_STATUS[code])


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler400``: a request Django refused before any view (a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``, a bad Host header...)."""
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return _json_error("too_large", TOO_LARGE_DETAIL)
    return _json_error("bad_request", "The server could not understand the request.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler403``: a view outside DRF refused the caller."""
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return _json_error("forbidden", "You may not do this.")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: no route (or a view raised Http404 outside DRF)."""
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return _json_error("not_found", f"Nothing is at {request.path}.")


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an unexpected error; the details are in the server log, not in the reply."""
    if not _is_api(request):
        return defaults.server_error(request)
    return _json_error("server_error", "Something went wrong on the server; the error has been logged.")
