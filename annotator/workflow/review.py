"""Review states and the review queue.

States: ``draft`` → ``submitted`` → ``approved`` | ``rejected``; a rejected annotation
that is edited becomes a ``draft`` again and is submitted anew. Each transition writes a
version row. Authors (and reviewers/owners) submit; reviewers and owners approve or
reject; nobody approves their own work unless the project allows it. Those rules live in
:mod:`annotator.access`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.contrib.gis.geos import Polygon
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from annotator.access import REVIEWED_AS_DRAFTED, TRANSITIONS, Access, require_role
from annotator.choices import Role
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
from annotator.workflow import labels, risk
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


QUEUE_ORDERS = ("submitted", "risk", "risk_low")


@dataclass(frozen=True)
class QueueFilters:
    """What the review queue lists: each filter left out when None.

    ``run``: the drafting run (``provenance.run``); its drafts (source ``auto``) are listed
    from ``draft`` on, as reviewers decide them without a submit. ``order``: ``submitted``
    (oldest submission first), ``risk`` (highest risk first) or ``risk_low`` (lowest
    first); ``unscored`` puts the annotations without a risk ``last`` or ``first``.
    """

    image_id: int | None = None
    area: AssignedArea | None = None
    author: str | None = None
    label_class_id: int | None = None
    run: int | None = None
    order: str = "submitted"
    unscored: str = "last"


def review_queue(project: Project, user, filters: QueueFilters | None = None) -> QuerySet:
    """The annotations the user may review under ``filters``, in the order they ask.

    Submitted annotations, and with a ``run`` filter that run's drafts too. Nobody reviews
    their own work unless the project allows it, except SAM2's drafts (see
    :mod:`annotator.access`). Filters: one image, the annotations meeting an assigned area
    (EPSG:4326), one author (username), one label class, one drafting run. Ordered by risk,
    the rows SAM2 figures but no score yet (a run's fresh drafts) are scored first
    (:func:`annotator.workflow.risk.assess_unscored`), so the order is all in SQL.
    """
    f = filters or QueueFilters()
    queryset = Annotation.objects.live().filter(project=project)
    if f.run is not None:
        drafted = Q(state=AnnotationState.DRAFT, source__in=REVIEWED_AS_DRAFTED)
        queryset = queryset.filter(Q(state=AnnotationState.SUBMITTED) | drafted, provenance__run=f.run)
    else:
        queryset = queryset.filter(state=AnnotationState.SUBMITTED)
    if not project.allow_self_approval:
        queryset = queryset.exclude(Q(author=user) & ~Q(source__in=REVIEWED_AS_DRAFTED))
    if f.image_id is not None:
        queryset = queryset.filter(image_id=f.image_id)
    if f.area is not None:
        queryset = queryset.filter(image_id=f.area.image_id, geometry__intersects=f.area.geometry)
    if f.author is not None:
        queryset = queryset.filter(author__username=f.author)
    if f.label_class_id is not None:
        queryset = queryset.filter(label_class_id=f.label_class_id)
    if f.order == "submitted":
        return queryset.order_by("submitted_at", "id")
    risk.assess_unscored(queryset)
    nulls = {"nulls_last": True} if f.unscored == "last" else {"nulls_first": True}
    by_risk = F("risk").desc(**nulls) if f.order == "risk" else F("risk").asc(**nulls)
    return queryset.order_by(by_risk, "id")


def next_for_review(project: Project, user, filters: QueueFilters | None = None) -> QueueItem:
    """The first annotation of the review queue, with the annotations around it.

    Neighbours are the live annotations of the same image whose geometry meets the
    annotation's bounding box grown by ``NEIGHBOUR_MARGIN_DEG`` degrees (EPSG:4326).
    The filters and the order are :func:`review_queue`'s.
    """
    queue = review_queue(project, user, filters)
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


@dataclass
class ScoreDecision:
    """What a bulk review by risk does (or, previewed, would do) to the queue it is given.

    ``approve``: the annotations with risk below ``approve_below``; ``reject``: those at or
    above ``reject_from``; ``kept``: the scored ones between; ``unscored``: those without a
    risk (never decided here). ``approved``, ``rejected`` and ``refused`` are filled when it
    runs; ``remaining``: the chosen ones left for another request beyond :data:`MAX_BULK_ITEMS`.
    """

    approve: int
    reject: int
    kept: int
    unscored: int
    approved: list[int]
    rejected: list[int]
    refused: list[BulkRefusal]
    remaining: int = 0


def bulk_by_risk(
    project: Project,
    user,
    filters: QueueFilters,
    *,
    approve_below: float | None = None,
    reject_from: float | None = None,
    comment: str = "",
    dry_run: bool = True,
) -> ScoreDecision:
    """Approve the queue's annotations with a risk below ``approve_below`` and reject those
    at or above ``reject_from``; with ``dry_run``, only count them (the preview).

    The queue is :func:`review_queue`'s under ``filters`` (typically one drafting run's).
    Each decision goes through :func:`transition` (its own transaction, one review event,
    its own refusal); a rejection needs ``comment``, which opens a thread on each, as a
    single rejection does. At most :data:`MAX_BULK_ITEMS` decisions per call, the most
    certain first (lowest risk approved, highest rejected); ``remaining`` says how many
    wait for the next call.

    Raises:
        PermissionDenied: the user is not a reviewer or owner of the project.
        InvalidInput: no threshold, one outside 0..1, ``reject_from`` below
            ``approve_below``, or a rejection without a comment.
    """
    require_role(user, project, Role.REVIEWER, "Only reviewers and owners review annotations.")
    for name, value in (("approve_below", approve_below), ("reject_from", reject_from)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise InvalidInput(f"{name} is a risk from 0 to 1.", field=name)
    if approve_below is None and reject_from is None:
        raise InvalidInput("Give approve_below, reject_from or both.", field="approve_below")
    if approve_below is not None and reject_from is not None and reject_from < approve_below:
        raise InvalidInput("reject_from must be at or above approve_below.", field="reject_from")
    comment = (comment or "").strip()
    if reject_from is not None and not dry_run and not comment:
        raise InvalidInput("Say why the annotations are rejected.", field="comment")
    # Ordered by risk, so that the rows a run wrote unscored are scored first.
    queue = review_queue(project, user, replace(filters, order="risk"))
    scored = queue.filter(risk__isnull=False)
    to_approve = scored.filter(risk__lt=approve_below) if approve_below is not None else scored.none()
    to_reject = scored.filter(risk__gte=reject_from) if reject_from is not None else scored.none()
    counting = {"total": Count("id"), "unscored": Count("id", filter=Q(risk__isnull=True))}
    if approve_below is not None:
        counting["approve"] = Count("id", filter=Q(risk__lt=approve_below))
    if reject_from is not None:
        counting["reject"] = Count("id", filter=Q(risk__gte=reject_from))
    counts = {"approve": 0, "reject": 0, **queue.aggregate(**counting)}
    decision = ScoreDecision(
        approve=counts["approve"],
        reject=counts["reject"],
        kept=counts["total"] - counts["unscored"] - counts["approve"] - counts["reject"],
        unscored=counts["unscored"],
        approved=[],
        rejected=[],
        refused=[],
    )
    if dry_run:
        return decision
    approve_ids = list(to_approve.order_by("risk", "id").values_list("id", "version")[:MAX_BULK_ITEMS])
    room = MAX_BULK_ITEMS - len(approve_ids)
    reject_ids = list(to_reject.order_by("-risk", "id").values_list("id", "version")[:room]) if room else []
    decision.remaining = decision.approve + decision.reject - len(approve_ids) - len(reject_ids)
    for ids, action, done in ((approve_ids, "approve", decision.approved), (reject_ids, "reject", decision.rejected)):
        for annotation_id, version in ids:
            try:
                transition(
                    annotation_id, action, user, comment=comment if action == "reject" else "", expected_version=version
                )
                done.append(annotation_id)
            except GeopromptError as refusal:
                decision.refused.append(BulkRefusal(annotation_id, refusal.code, refusal.message))
    return decision
