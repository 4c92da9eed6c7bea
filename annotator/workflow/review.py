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
from annotator.errors import InvalidInput
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


def review_queue(project: Project, user, *, image_id: int | None = None, area: AssignedArea | None = None) -> QuerySet:
    """Submitted annotations the user may review, oldest submission first."""
    queryset = Annotation.objects.live().filter(project=project, state=AnnotationState.SUBMITTED)
    if not project.allow_self_approval:
        queryset = queryset.exclude(author=user)
    if image_id is not None:
        queryset = queryset.filter(image_id=image_id)
    if area is not None:
        queryset = queryset.filter(image_id=area.image_id, geometry__intersects=area.geometry)
    return queryset.order_by("submitted_at", "id")


def next_for_review(
    project: Project, user, *, image_id: int | None = None, area: AssignedArea | None = None
) -> QueueItem:
    """The oldest submitted annotation for a reviewer, with the annotations around it.

    Neighbours are the live annotations of the same image whose geometry meets the
    annotation's bounding box grown by ``NEIGHBOUR_MARGIN_DEG`` degrees (EPSG:4326).
    """
    queue = review_queue(project, user, image_id=image_id, area=area)
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
