"""Comment threads pinned to an annotation or to a point (EPSG:4326) on an image, and
the assigned areas that split an image's work between annotators."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.gis.geos import GEOSException, Point
from django.db import transaction
from django.utils import timezone

from annotator.access import COMMENTER, Access, check, require_role
from annotator.errors import InvalidInput
from annotator.models import Annotation, AssignedArea, CommentThread, Image, Project, ReviewComment
from annotator.workflow.annotations import clean_geometry, parse_geojson

MAX_COMMENT_LENGTH = 10_000


def _clean_body(body: Any) -> str:
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("Write something in the comment.", field="body")
    if len(body) > MAX_COMMENT_LENGTH:
        raise InvalidInput(f"Comments are limited to {MAX_COMMENT_LENGTH} characters.", field="body")
    return body.strip()


def _point(value: Any, image: Image) -> Point:
    """A GeoJSON Point (EPSG:4326) that must lie on the image footprint."""
    if not isinstance(value, dict) or value.get("type") != "Point":
        raise InvalidInput("point must be a GeoJSON Point.", field="point")
    try:
        lon, lat = (float(v) for v in value["coordinates"][:2])
        point = Point(lon, lat, srid=4326)
    except (KeyError, TypeError, ValueError, GEOSException):
        raise InvalidInput("point must be a GeoJSON Point [lon, lat].", field="point") from None
    if image.footprint is None or not image.footprint.intersects(point):
        raise InvalidInput("The point is not on the image.", field="point")
    return point


def open_thread(
    project: Project,
    user,
    body: Any,
    *,
    annotation_id: int | None = None,
    image_id: int | None = None,
    point: Any = None,
) -> CommentThread:
    """Start a thread on an annotation, or at a point on an image, with its first comment."""
    require_role(user, project, COMMENTER, "Viewers cannot comment.")
    body = _clean_body(body)
    if annotation_id is not None:
        annotation = Annotation.objects.live().filter(project=project, pk=annotation_id).first()
        if annotation is None:
            raise InvalidInput(f"Annotation {annotation_id} is not in this project.", field="annotation")
        image = annotation.image
        pinned = {"annotation": annotation, "point": _point(point, image) if point is not None else None}
    else:
        image = Image.objects.filter(project=project, pk=image_id).first() if image_id is not None else None
        if image is None:
            raise InvalidInput("Pin the thread to an annotation, or to a point on an image of this project.")
        pinned = {"annotation": None, "point": _point(point, image)}
    with transaction.atomic():
        thread = CommentThread.objects.create(project=project, image=image, created_by=user, **pinned)
        ReviewComment.objects.create(thread=thread, author=user, body=body)
    return thread


def reply(thread: CommentThread, user, body: Any) -> ReviewComment:
    """Answer the thread (annotators and up; see :meth:`Access.thread_refusal`)."""
    check(Access.of(user, thread.project).thread_refusal("reply", thread))
    return ReviewComment.objects.create(thread=thread, author=user, body=_clean_body(body))


def set_resolved(thread: CommentThread, user, resolved: bool) -> CommentThread:
    """Resolve or reopen a thread: its creator, reviewers and owners may."""
    check(Access.of(user, thread.project).thread_refusal("resolve" if resolved else "reopen", thread))
    thread.resolved = resolved
    thread.resolved_by = user if resolved else None
    thread.resolved_at = timezone.now() if resolved else None
    thread.save(update_fields=["resolved", "resolved_by", "resolved_at"])
    return thread


def save_area(
    project: Project,
    *,
    image_id: Any,
    geometry: Any,
    assignee: str | None = None,
    name: str = "",
    user=None,
    area: AssignedArea | None = None,
) -> AssignedArea:
    """Create or change an assigned area: a Polygon (EPSG:4326) clipped to the image.

    ``assignee`` is the username of an annotator (or any member) of the project, or None.
    """
    image = Image.objects.filter(project=project, pk=image_id).first()
    if image is None:
        raise InvalidInput(f"Image {image_id} is not in this project.", field="image")
    clipped = clean_geometry(parse_geojson(geometry), image)
    if len(clipped) != 1:
        raise InvalidInput("An assigned area must be one polygon on the image.", field="geometry")
    assignee_user = None
    if assignee:
        assignee_user = get_user_model().objects.filter(username=assignee, memberships__project=project).first()
        if assignee_user is None:
            raise InvalidInput(f"{assignee} is not a member of this project.", field="assignee")
    area = area or AssignedArea(project=project, created_by=user)
    area.image = image
    area.geometry = clipped[0]
    area.assignee = assignee_user
    area.name = (name or "")[:200]
    area.save()
    return area
