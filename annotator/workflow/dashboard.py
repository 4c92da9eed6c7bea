"""Project dashboards: every figure is one SQL aggregate, whatever the number of annotations.

Areas are geodesic (WGS84), in square metres; durations are in seconds; days are UTC dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from annotator.models import Annotation, AnnotationState, AnnotationVersion, AssignedArea, Image, Project

STATES = [s.value for s in AnnotationState]
REVIEWED_STATES = (AnnotationState.SUBMITTED.value, AnnotationState.APPROVED.value)


def _state_counts(prefix: str = "") -> dict[str, Count]:
    live = Q(**{f"{prefix}deleted_at__isnull": True}) if prefix else Q()
    key = f"{prefix}id" if prefix else "id"
    return {state: Count(key, filter=live & Q(**{f"{prefix}state": state})) for state in STATES}


def counts_by_state(project: Project) -> dict[str, Any]:
    """Annotations and their area (m²) per state, and the totals."""
    row = (
        Annotation.objects.live()
        .filter(project=project)
        .aggregate(
            total=Count("id"),
            total_area_m2=Sum("area_m2"),
            **_state_counts(),
            **{f"{s}_area_m2": Sum("area_m2", filter=Q(state=s)) for s in STATES},
        )
    )
    return {
        "total": row["total"],
        "area_m2": row["total_area_m2"] or 0.0,
        "by_state": {s: row[s] for s in STATES},
        "area_m2_by_state": {s: row[f"{s}_area_m2"] or 0.0 for s in STATES},
    }


def counts_by_class(project: Project) -> list[dict[str, Any]]:
    """Per label class (``null`` for unlabelled): counts per state and area (m²)."""
    rows = (
        Annotation.objects.live()
        .filter(project=project)
        .values("label_class_id", "label_class__name")
        .annotate(count=Count("id"), class_area_m2=Sum("area_m2"), **_state_counts())
        .order_by("label_class__name")
    )
    return [
        {
            "label_class": r["label_class_id"],
            "name": r["label_class__name"],
            "count": r["count"],
            "area_m2": r["class_area_m2"] or 0.0,
            "by_state": {s: r[s] for s in STATES},
        }
        for r in rows
    ]


def counts_by_annotator(project: Project) -> list[dict[str, Any]]:
    """Per author: created, submitted (ever), pending, approved, rejected, approval rate, and
    the median time from (latest) submission to review, in seconds."""
    users = get_user_model()._meta.db_table
    table = Annotation._meta.db_table
    sql = f"""
        SELECT a.author_id, u.username,
               count(*) AS created,
               count(*) FILTER (WHERE a.submitted_at IS NOT NULL) AS submitted,
               count(*) FILTER (WHERE a.state = 'submitted') AS pending,
               count(*) FILTER (WHERE a.state = 'approved') AS approved,
               count(*) FILTER (WHERE a.state = 'rejected') AS rejected,
               sum(a.area_m2) AS area_m2,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM a.reviewed_at - a.submitted_at)
               ) FILTER (WHERE a.reviewed_at IS NOT NULL AND a.submitted_at IS NOT NULL) AS median_review_s
        FROM {table} a LEFT JOIN {users} u ON u.id = a.author_id
        WHERE a.project_id = %s AND a.deleted_at IS NULL
        GROUP BY a.author_id, u.username
        ORDER BY u.username
    """  # noqa: S608 - table names come from the models, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk])
        rows = cursor.fetchall()
    result = []
    for author_id, username, created, submitted, pending, approved, rejected, area, median in rows:
        reviewed = approved + rejected
        result.append(
            {
                "author": author_id,
                "username": username,
                "created": created,
                "submitted": submitted,
                "pending_review": pending,
                "approved": approved,
                "rejected": rejected,
                "approval_rate": approved / reviewed if reviewed else None,
                "median_review_s": float(median) if median is not None else None,
                "area_m2": area or 0.0,
            }
        )
    return result


def throughput(project: Project, days: int = 30) -> list[dict[str, Any]]:
    """Per UTC day over the last ``days`` days: annotations created, submitted, approved, rejected."""
    since = timezone.now() - dt.timedelta(days=days)
    rows = (
        AnnotationVersion.objects.filter(annotation__project=project, created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(
            created=Count("id", filter=Q(action__in=["created", "imported"])),
            submitted=Count("id", filter=Q(action="submitted")),
            approved=Count("id", filter=Q(action="approved")),
            rejected=Count("id", filter=Q(action="rejected")),
        )
        .order_by("day")
    )
    return [{**r, "day": r["day"].isoformat()} for r in rows]


def image_progress(project: Project) -> list[dict[str, Any]]:
    """Per image: live annotations per state and their area (m²)."""
    live = Q(annotations__deleted_at__isnull=True)
    rows = (
        Image.objects.filter(project=project)
        .annotate(
            annotation_count=Count("annotations", filter=live),
            annotated_m2=Sum("annotations__area_m2", filter=live),
            **_state_counts("annotations__"),
        )
        .values("id", "name", "annotation_count", "annotated_m2", *STATES)
        .order_by("id")
    )
    return [
        {
            "image": r["id"],
            "name": r["name"],
            "count": r["annotation_count"],
            "area_m2": r["annotated_m2"] or 0.0,
            "by_state": {s: r[s] for s in STATES},
        }
        for r in rows
    ]


def area_progress(area_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Completion of assigned areas, by area id.

    ``completion`` is the share (0 to 1) of the area's surface covered by the union of
    submitted and approved annotations; counts are of live annotations meeting the area.
    """
    ids = list(area_ids)
    if not ids:
        return {}
    areas = AssignedArea._meta.db_table
    table = Annotation._meta.db_table
    sql = f"""
        SELECT ar.id,
               ST_Area(ar.geometry::geography) AS area_m2,
               ST_Area(ST_Intersection(
                   ar.geometry,
                   ST_Union(a.geometry) FILTER (WHERE a.state IN (%s, %s))
               )::geography) AS covered_m2,
               count(a.id) AS total,
               count(a.id) FILTER (WHERE a.state = 'draft') AS draft,
               count(a.id) FILTER (WHERE a.state = 'submitted') AS submitted,
               count(a.id) FILTER (WHERE a.state = 'approved') AS approved,
               count(a.id) FILTER (WHERE a.state = 'rejected') AS rejected
        FROM {areas} ar
        LEFT JOIN {table} a
               ON a.image_id = ar.image_id AND a.deleted_at IS NULL AND ST_Intersects(a.geometry, ar.geometry)
        WHERE ar.id = ANY(%s)
        GROUP BY ar.id
    """  # noqa: S608 - table names come from the models, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [*REVIEWED_STATES, ids])
        rows = cursor.fetchall()
    progress = {}
    for area_id, area_m2, covered, total, *by_state in rows:
        covered = covered or 0.0
        progress[area_id] = {
            "area_m2": area_m2,
            "covered_m2": covered,
            "completion": min(covered / area_m2, 1.0) if area_m2 else 0.0,
            "count": total,
            "by_state": dict(zip(STATES, by_state, strict=True)),
        }
    return progress


def project_dashboard(project: Project, days: int = 30) -> dict[str, Any]:
    """Everything the dashboard page shows, in a constant number of queries."""
    areas = list(AssignedArea.objects.filter(project=project).values("id", "name", "image_id", "assignee__username"))
    progress = area_progress(a["id"] for a in areas)
    return {
        "project": project.pk,
        **counts_by_state(project),
        "by_class": counts_by_class(project),
        "by_annotator": counts_by_annotator(project),
        "throughput": throughput(project, days),
        "images": image_progress(project),
        "areas": [
            {
                "area": a["id"],
                "name": a["name"],
                "image": a["image_id"],
                "assignee": a["assignee__username"],
                **progress.get(a["id"], {}),
            }
            for a in areas
        ],
    }
