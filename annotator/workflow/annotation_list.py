"""The annotation list of a project: filters and counts per review state.

The annotate page's list, the API's list and its counts all read the same filters, so a
count always matches the list it sits above. Geometries are EPSG:4326.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.gis.geos import Polygon
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from annotator.models import Annotation, AnnotationState, CommentThread, Project


@dataclass(frozen=True)
class AnnotationFilters:
    """What the caller asked to see. Empty fields do not filter.

    ``bbox`` is a Polygon in EPSG:4326; ``author_id`` is set for "mine" (the caller's id);
    ``has_open_comments`` True keeps annotations with at least one unresolved comment
    thread, False those with none.
    """

    image_id: int | None = None
    bbox: Polygon | None = None
    states: frozenset[str] = field(default_factory=frozenset)
    label_class_id: int | None = None
    author_username: str | None = None
    author_id: int | None = None
    source: str | None = None
    has_open_comments: bool | None = None


def _open_comments():
    return Exists(CommentThread.objects.filter(annotation=OuterRef("pk"), resolved=False))


def _without_state(project: Project, filters: AnnotationFilters) -> QuerySet[Annotation]:
    queryset = Annotation.objects.live().filter(project=project)
    if filters.image_id is not None:
        queryset = queryset.filter(image_id=filters.image_id)
    if filters.bbox is not None:
        queryset = queryset.filter(geometry__intersects=filters.bbox)
    if filters.label_class_id is not None:
        queryset = queryset.filter(label_class_id=filters.label_class_id)
    if filters.author_username is not None:
        queryset = queryset.filter(author__username=filters.author_username)
    if filters.author_id is not None:
        queryset = queryset.filter(author_id=filters.author_id)
    if filters.source is not None:
        queryset = queryset.filter(source=filters.source)
    if filters.has_open_comments is not None:
        # EXISTS, not a join: an annotation with several open threads is listed once.
        open_comments = _open_comments()
        queryset = queryset.filter(open_comments if filters.has_open_comments else ~open_comments)
    return queryset


def annotations(project: Project, filters: AnnotationFilters) -> QuerySet[Annotation]:
    """The live annotations of ``project`` that pass ``filters``, oldest first (by id)."""
    queryset = _without_state(project, filters)
    if filters.states:
        queryset = queryset.filter(state__in=filters.states)
    return queryset.order_by("id")


def state_counts(project: Project, filters: AnnotationFilters) -> dict[str, int]:
    """How many annotations pass ``filters`` in each review state, whatever ``filters.states``
    says (so the page can show what each state filter would give); one query.

    Returns every state of :class:`~annotator.models.AnnotationState`, zeros included.
    """
    aggregates = {state: Count("id", filter=Q(state=state)) for state in AnnotationState.values}
    return _without_state(project, filters).aggregate(**aggregates)
