"""Review states and the review queue.

States: ``draft`` → ``submitted`` → ``approved`` | ``rejected``; a rejected annotation
that is edited becomes a ``draft`` again and is submitted anew. Each transition writes a
version row. Authors (and reviewers/owners) submit; reviewers and owners approve or
reject; nobody approves their own work unless the project allows it. Those rules live in
:mod:`annotator.access`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.gis.geos import Polygon
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotator.access import TRANSITIONS, Access
from annotator.errors import GeopromptError, InvalidInput, NotFound
from annotator.models import (
    Annotation,
    AnnotationState,
    AssignedArea,
    CommentThread,
    Project,
    ReviewComment,
    VersionAction,
)
from annotator.workflow import labels
from annotator.workflow.annotations import check_version, lock, version_row

_ACTION_VERSION = {
    "submit": VersionAction.SUBMITTED,
    "approve": VersionAction.APPROVED,
    "reject": VersionAction.REJECTED,
}
NEIGHBOUR_MARGIN_DEG = 0.001  # about 100 m: how far around the annotation neighbours are looked for
MAX_NEIGHBOURS = 200


def transition(annotation_id: int, action: str, user, *, comment: str = "", expected_version: int | None = None):
    """Move an annotation through one review step.

    Args:
        annotation_id: the annotation.
        action: ``submit``, ``approve`` or ``reject``.
        user: who does it.
        comment: required for ``reject``; it also opens a comment thread on the annotation.
        expected_version: optional; when given, a stale version is refused (409).

    Raises:
        PermissionDenied: the user's role does not allow the step.
        StaleVersion: ``expected_version`` is not the current version.
        InvalidTransition: the annotation is not in a state the step starts from.
        InvalidInput: a rejection without a comment.
        LabelRequired, AttributesRequired: a submit of an annotation without the label class
            or the required attributes the project asks for (:mod:`annotator.workflow.labels`).
    """
    _sources, target = TRANSITIONS[action]
    comment = (comment or "").strip()
    if action == "reject" and not comment:
        raise InvalidInput("Say why the annotation is rejected.", field="comment")
    with transaction.atomic():
        annotation = lock(annotation_id)
        access = Access.of(user, annotation.project)
        access.check(action, annotation)
        check_version(annotation, expected_version, required=False)
        access.check_state(action, annotation)
        if action == "submit":
            labels.check_submittable(annotation)
        now = timezone.now()
        annotation.state = target
        if action == "submit":
            annotation.submitted_at = now
            annotation.reviewed_at = None
            annotation.reviewed_by = None
        else:
            annotation.reviewed_at = now
            annotation.reviewed_by = user
        annotation.version += 1
        annotation.save()
        version_row(annotation, _ACTION_VERSION[action], user, comment=comment).save()
        if comment:
            thread = CommentThread.objects.create(
                project_id=annotation.project_id, image_id=annotation.image_id, annotation=annotation, created_by=user
            )
            ReviewComment.objects.create(thread=thread, author=user, body=comment)
    return annotation


@dataclass
class QueueItem:
    annotation: Annotation | None
    neighbours: list[Annotation]
    remaining: int


def review_queue(
    project: Project,
    user,
    *,
    image_id: int | None = None,
    area: AssignedArea | None = None,
    author: str | None = None,
    label_class_id: int | None = None,
) -> QuerySet:
    """Submitted annotations the user may review, oldest submission first.

    Filters: one image, the annotations meeting an assigned area (EPSG:4326), one author
    (username) and one label class; each is left out when None.
    """
    queryset = Annotation.objects.live().filter(project=project, state=AnnotationState.SUBMITTED)
    if not project.allow_self_approval:
        queryset = queryset.exclude(author=user)
    if image_id is not None:
        queryset = queryset.filter(image_id=image_id)
    if area is not None:
        queryset = queryset.filter(image_id=area.image_id, geometry__intersects=area.geometry)
    if author is not None:
        queryset = queryset.filter(author__username=author)
    if label_class_id is not None:
        queryset = queryset.filter(label_class_id=label_class_id)
    return queryset.order_by("submitted_at", "id")


def next_for_review(
    project: Project,
    user,
    *,
    image_id: int | None = None,
    area: AssignedArea | None = None,
    author: str | None = None,
    label_class_id: int | None = None,
) -> QueueItem:
    """The oldest submitted annotation for a reviewer, with the annotations around it.

    Neighbours are the live annotations of the same image whose geometry meets the
    annotation's bounding box grown by ``NEIGHBOUR_MARGIN_DEG`` degrees (EPSG:4326).
    The filters are :func:`review_queue`'s.
    """
    queue = review_queue(project, user, image_id=image_id, area=area, author=author, label_class_id=label_class_id)
    annotation = queue.select_related("author", "label_class").first()
    if annotation is None:
        return QueueItem(None, [], 0)
    west, south, east, north = annotation.geometry.extent
    m = NEIGHBOUR_MARGIN_DEG
    window = Polygon.from_bbox((west - m, south - m, east + m, north + m))
    window.srid = 4326
    neighbours = list(
        Annotation.objects.live()
        .filter(image_id=annotation.image_id, geometry__intersects=window)
        .exclude(pk=annotation.pk)
        .select_related("author", "label_class")
        .order_by("id")[:MAX_NEIGHBOURS]
    )
    return QueueItem(annotation, neighbours, queue.count())


MAX_BULK_ITEMS = 500  # one request stays within a few seconds (each approval is its own transaction)


@dataclass
class BulkRefusal:
    """Why one annotation of a bulk review was not approved (an error code of annotator.errors)."""

    annotation_id: int
    code: str
    detail: str


@dataclass
class BulkResult:
    approved: list[Annotation]
    refused: list[BulkRefusal]


def bulk_approve(project: Project, user, items: list[tuple[int, int | None]]) -> BulkResult:
    """Approve several annotations of a project, each exactly as a single approval would.

    Each annotation goes through :func:`transition` in its own transaction, so each gets
    its own version row (the review event) and its own refusal: one that the user may not
    approve (their own work, a state other than submitted, a stale version, another
    project) is reported and the others are approved.

    Args:
        project: the project the annotations must belong to.
        user: the reviewer.
        items: ``(annotation id, version the reviewer saw or None)`` pairs, at most
            :data:`MAX_BULK_ITEMS`, without repeats.

    Raises:
        InvalidInput: no items, too many, or an annotation named twice.
    """
    if not items:
        raise InvalidInput("Select at least one annotation to approve.", field="annotations")
    if len(items) > MAX_BULK_ITEMS:
        raise InvalidInput(
            f"At most {MAX_BULK_ITEMS} annotations can be approved at once; {len(items)} were sent.",
            field="annotations",
        )
    ids = [annotation_id for annotation_id, _ in items]
    if len(set(ids)) != len(ids):
        raise InvalidInput("An annotation is named twice.", field="annotations")
    in_project = set(Annotation.objects.live().filter(project=project, pk__in=ids).values_list("pk", flat=True))
    result = BulkResult([], [])
    for annotation_id, version in items:
        try:
            if annotation_id not in in_project:
                raise NotFound(f"Annotation #{annotation_id} is not in this project (or was deleted).")
            result.approved.append(transition(annotation_id, "approve", user, expected_version=version))
        except GeopromptError as refusal:
            result.refused.append(BulkRefusal(annotation_id, refusal.code, refusal.message))
    return result
