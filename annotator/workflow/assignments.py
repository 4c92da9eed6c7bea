"""Assigned areas and the work they hand out: who draws them, each member's tasks, progress.

An assigned area is a Polygon (EPSG:4326) on one image, given to one member or to nobody
yet; areas of one image may overlap. A member's *tasks* are the areas assigned to them and
their own rejected annotations, which are theirs to fix; each task opens the annotate page
on it. Who may do what is :mod:`annotator.access`'s to say; figures come from
:mod:`annotator.workflow.dashboard` (SQL aggregates). Areas are geodesic, in square metres.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.urls import reverse

from annotator.access import ASSIGNABLE, area_refusal, assignee_refusal, at_least, check, role_of
from annotator.choices import Role
from annotator.models import (
    Annotation,
    AnnotationState,
    AnnotationVersion,
    AssignedArea,
    Membership,
    Project,
    VersionAction,
)
from annotator.workflow.comments import save_area
from annotator.workflow.dashboard import area_progress, image_progress

# Tasks of each kind in one answer: a list a person works through, not an export. The
# answer says when there were more (``truncated``).
MAX_TASKS = 500
# Areas listed with their completion on the project page.
MAX_PROJECT_AREAS = 1000


# --- areas: created, changed, deleted by reviewers and owners ----------------------------


def _check_assignee(project: Project, username: str | None) -> None:
    """Refuse (InvalidInput) an assignee who is not a member or may not annotate."""
    if not username:
        return
    role = Membership.objects.filter(project=project, user__username=username).values_list("role", flat=True).first()
    check(assignee_refusal(username, role))


def create_area(
    project: Project, user, *, image_id: Any, geometry: Any, assignee: str | None = None, name: str = ""
) -> AssignedArea:
    """Draw a new area on an image of the project.

    Args:
        project: the project.
        user: who draws it (a reviewer or an owner).
        image_id: the image, in the project.
        geometry: a GeoJSON Polygon in EPSG:4326; it is clipped to the image's footprint.
        assignee: the username of the member who gets it (one who may annotate), or None.
        name: what people call it (at most 200 characters).

    Raises:
        PermissionDenied: the user may not manage areas.
        InvalidInput: the image, geometry or assignee is not acceptable.
    """
    check(area_refusal(role_of(user, project)))
    _check_assignee(project, assignee)
    return save_area(project, image_id=image_id, geometry=geometry, assignee=assignee, name=name, user=user)


def update_area(area: AssignedArea, user, **changes: Any) -> AssignedArea:
    """Change an area's ``geometry`` (GeoJSON Polygon, EPSG:4326), ``name``, ``assignee``
    (a username, or None to unassign) or ``image_id``; what is not given stays.

    Raises:
        PermissionDenied: the user may not manage areas.
        InvalidInput: a change is not acceptable.
    """
    check(area_refusal(role_of(user, area.project_id)))
    unknown = set(changes) - {"geometry", "name", "assignee", "image_id"}
    if unknown:
        raise ValueError(f"Unknown area fields: {', '.join(sorted(unknown))}.")
    current = {
        "image_id": area.image_id,
        "geometry": {"type": "Polygon", "coordinates": area.geometry.coords},
        "assignee": area.assignee.username if area.assignee else None,
        "name": area.name,
    }
    merged = {**current, **changes}
    if merged["assignee"] != current["assignee"]:
        _check_assignee(area.project, merged["assignee"])
    return save_area(area.project, area=area, **merged)


def assignable_members(project: Project) -> list[dict[str, str]]:
    """The members who may be given an area (``username``, ``role``), by username (one query)."""
    roles = [role for role in Role if at_least(role, ASSIGNABLE)]
    return list(
        Membership.objects.filter(project=project, role__in=roles)
        .order_by("user__username")
        .values("role", username=F("user__username"))
    )


def delete_area(area: AssignedArea, user) -> None:
    """Delete an area (its annotations stay). Raises PermissionDenied for non-managers."""
    check(area_refusal(role_of(user, area.project_id)))
    area.delete()


# --- a member's tasks ---------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One piece of work of a member: an area assigned to them, or an annotation of theirs to fix.

    Attributes:
        kind: ``area`` or ``rejected``.
        id: the area's or the annotation's id.
        bbox: (west, south, east, north) of the area or annotation, degrees in EPSG:4326
            (east may run past 180 for an image across the antimeridian, as stored).
        progress: for an area, :func:`annotator.workflow.dashboard.area_progress`'s figures
            (counts of annotations meeting it by state; completion 0 to 1); None for an annotation.
        comment: for a rejected annotation, the first line of the reviewer's reason.
    """

    kind: str
    id: int
    project_id: int
    project_name: str
    image_id: int
    image_name: str
    name: str
    bbox: tuple[float, float, float, float]
    progress: dict[str, Any] | None = None
    label_class_name: str | None = None
    comment: str = ""
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.id)

    @property
    def url(self) -> str:
        """The annotate page, opened on this task."""
        param = "area" if self.kind == "area" else "annotation"
        return f"{reverse('image-map', args=[self.image_id])}?{param}={self.id}"


@dataclass(frozen=True)
class TaskList:
    """A member's tasks, in the order to do them: their areas (by project, image, area),
    then their rejected annotations (oldest rejection first). ``truncated``: there were
    more than :data:`MAX_TASKS` of a kind."""

    tasks: list[Task]
    truncated: bool

    def after(self, kind: str | None, task_id: int | None) -> Task | None:
        """The task that follows ``(kind, task_id)``, going round to the first; the first
        task when that one is not in the list (done, or never mine); None when no other is left."""
        keys = [t.key for t in self.tasks]
        if (kind, task_id) not in keys:
            return self.tasks[0] if self.tasks else None
        at = keys.index((kind, task_id))
        following = self.tasks[at + 1 :] + self.tasks[:at]
        return following[0] if following else None


def first_line(text: str) -> str:
    """The first non-empty line of a comment, stripped."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def tasks_of(user, project: Project | None = None) -> TaskList:
    """The user's tasks, in every project they belong to or in ``project`` only.

    Four queries, whatever the number of tasks: areas, their progress, rejected
    annotations, their rejection comments (memberships are a subquery of each).
    """
    projects = Project.objects.for_user(user)
    if project is not None:
        projects = projects.filter(pk=project.pk)
    areas = list(
        AssignedArea.objects.filter(assignee=user, project__in=projects)
        .select_related("project", "image")
        .order_by("project__name", "project_id", "image__name", "image_id", "id")[: MAX_TASKS + 1]
    )
    rejected = list(
        Annotation.objects.live()
        .filter(author=user, state=AnnotationState.REJECTED, project__in=projects)
        .select_related("project", "image", "label_class", "reviewed_by")
        .order_by("reviewed_at", "id")[: MAX_TASKS + 1]
    )
    truncated = len(areas) > MAX_TASKS or len(rejected) > MAX_TASKS
    areas, rejected = areas[:MAX_TASKS], rejected[:MAX_TASKS]
    progress = area_progress(a.pk for a in areas)
    reasons = dict(
        AnnotationVersion.objects.filter(annotation__in=[a.pk for a in rejected], action=VersionAction.REJECTED)
        .order_by("annotation_id", "-version")
        .distinct("annotation_id")
        .values_list("annotation_id", "comment")
    )
    tasks = [
        Task(
            kind="area",
            id=a.pk,
            project_id=a.project_id,
            project_name=a.project.name,
            image_id=a.image_id,
            image_name=a.image.name,
            name=a.name or f"Area {a.pk}",
            bbox=a.geometry.extent,
            progress=progress.get(a.pk),
        )
        for a in areas
    ]
    tasks += [
        Task(
            kind="rejected",
            id=a.pk,
            project_id=a.project_id,
            project_name=a.project.name,
            image_id=a.image_id,
            image_name=a.image.name,
            name=f"Annotation #{a.pk}",
            bbox=a.geometry.extent,
            label_class_name=a.label_class.name if a.label_class else None,
            comment=first_line(reasons.get(a.pk, "")),
            reviewed_by=a.reviewed_by.username if a.reviewed_by else None,
            reviewed_at=a.reviewed_at,
        )
        for a in rejected
    ]
    return TaskList(tasks=tasks, truncated=truncated)


# --- the project page: progress per image and per area -----------------------------------


def project_progress(project: Project) -> dict[str, Any]:
    """Live annotations per state on each image, and each area's completion (three queries).

    Returns:
        ``images``: :func:`~annotator.workflow.dashboard.image_progress`'s rows;
        ``areas``: id, name, image, image_name, assignee (username or None) and the area's
        figures (m², counts by state, completion 0 to 1), at most :data:`MAX_PROJECT_AREAS`;
        ``areas_truncated``: whether there were more.
    """
    areas = list(
        AssignedArea.objects.filter(project=project)
        .order_by("image_id", "id")
        .values("id", "name", "image_id", "image__name", "assignee__username")[: MAX_PROJECT_AREAS + 1]
    )
    truncated = len(areas) > MAX_PROJECT_AREAS
    areas = areas[:MAX_PROJECT_AREAS]
    progress = area_progress(a["id"] for a in areas)
    return {
        "images": image_progress(project),
        "areas": [
            {
                "id": a["id"],
                "name": a["name"] or f"Area {a['id']}",
                "image": a["image_id"],
                "image_name": a["image__name"],
                "assignee": a["assignee__username"],
                **progress[a["id"]],
            }
            for a in areas
        ],
        "areas_truncated": truncated,
    }
