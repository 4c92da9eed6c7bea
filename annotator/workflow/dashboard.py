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


def counts_by_class(project: Project, history: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Per label class (``null`` for unlabelled) with live annotations: counts per state,
    area (m²), and the class's review history (:func:`review_history`)."""
    history = history if history is not None else review_history(project)
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
            **history["by_class"].get(r["label_class_id"], _empty_history()),
        }
        for r in rows
    ]


def counts_by_annotator(project: Project, history: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Per author: created, submitted (ever), pending, approved and rejected now, area (m²),
    merged with their review history (:func:`review_history`, keys of :data:`HISTORY_KEYS`).

    Authors whose annotations were all deleted still appear when they have a review history.
    """
    users = get_user_model()._meta.db_table
    table = Annotation._meta.db_table
    sql = f"""
        SELECT a.author_id, u.username,
               count(*) AS created,
               count(*) FILTER (WHERE a.submitted_at IS NOT NULL) AS submitted,
               count(*) FILTER (WHERE a.state = 'submitted') AS pending,
               count(*) FILTER (WHERE a.state = 'approved') AS approved,
               count(*) FILTER (WHERE a.state = 'rejected') AS rejected,
               sum(a.area_m2) AS area_m2
        FROM {table} a LEFT JOIN {users} u ON u.id = a.author_id
        WHERE a.project_id = %s AND a.deleted_at IS NULL
        GROUP BY a.author_id, u.username
        ORDER BY u.username
    """  # noqa: S608 - table names come from the models, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk])
        rows = cursor.fetchall()
    history = history if history is not None else review_history(project)
    by_author = dict(history["by_annotator"])
    result = []
    for author_id, username, created, submitted, pending, approved, rejected, area in rows:
        result.append(
            {
                "author": author_id,
                "username": username,
                "created": created,
                "submitted": submitted,
                "pending_review": pending,
                "approved": approved,
                "rejected": rejected,
                "area_m2": area or 0.0,
                **_without_username(by_author.pop(author_id, _empty_history())),
            }
        )
    for author_id, figures in by_author.items():  # authors of deleted annotations only
        result.append(
            {
                "author": author_id,
                "username": figures["username"],
                "created": 0,
                "submitted": 0,
                "pending_review": 0,
                "approved": 0,
                "rejected": 0,
                "area_m2": 0.0,
                **_without_username(figures),
            }
        )
    result.sort(key=lambda r: (r["username"] is None, r["username"] or ""))
    return result


# --- review history: the figures come from the version rows (one per review event) ------

HISTORY_KEYS = (
    "submissions",
    "approvals",
    "rejections",
    "reviewed",
    "first_pass_approved",
    "first_pass_approval_rate",
    "resubmissions",
    "median_review_s",
)


def _without_username(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k != "username"}


def _empty_history() -> dict[str, Any]:
    return {
        "submissions": 0,
        "approvals": 0,
        "rejections": 0,
        "reviewed": 0,
        "first_pass_approved": 0,
        "first_pass_approval_rate": None,
        "resubmissions": 0,
        "median_review_s": None,
    }


def _history_figures(submissions, approvals, rejections, reviewed, first_pass, resubmissions, median):
    return {
        "submissions": submissions,
        "approvals": approvals,
        "rejections": rejections,
        "reviewed": reviewed,
        "first_pass_approved": first_pass,
        "first_pass_approval_rate": first_pass / reviewed if reviewed else None,
        "resubmissions": resubmissions,
        "median_review_s": float(median) if median is not None else None,
    }


def review_history(project: Project) -> dict[str, Any]:
    """What the reviews did, counted from the review events, in one query.

    Every submit, approve and reject writes an ``AnnotationVersion`` row (action, user,
    ``created_at``, comment), single or bulk alike, so the figures keep what the current
    states forget: an annotation rejected, fixed and approved counts one rejection and
    is not a first-pass approval. Events of deleted annotations count too (the review
    happened). Work is attributed to the annotation's author and its current label class.

    Returns:
        ``total``: the figures of the whole project; ``by_annotator``: by author id (with
        ``username``); ``by_class``: by label class id (``None``: unlabelled). Each holds
        ``submissions``, ``approvals`` and ``rejections`` (events ever); ``reviewed``
        (annotations with at least one decision); ``first_pass_approved`` (of those, the
        ones whose first decision was an approval) and ``first_pass_approval_rate`` (their
        share, 0 to 1, None when nothing was reviewed); ``resubmissions`` (submissions whose
        previous decision was a rejection: the rework); ``median_review_s`` (median seconds
        from a submission to the decision on it).
    """
    versions = AnnotationVersion._meta.db_table
    table = Annotation._meta.db_table
    users = get_user_model()._meta.db_table
    # One pass over the project's review events: window functions give each event the
    # submission it answers and the decisions before it; GROUPING SETS then aggregate the
    # same rows per author, per class and in total.
    sql = f"""
        WITH events AS (
            SELECT a.author_id, a.label_class_id, v.action, v.created_at,
                   max(v.created_at) FILTER (WHERE v.action = 'submitted') OVER running AS submitted_at,
                   max(v.version) FILTER (WHERE v.action = 'rejected') OVER earlier AS last_rejected,
                   max(v.version) FILTER (WHERE v.action = 'approved') OVER earlier AS last_approved,
                   count(*) FILTER (WHERE v.action IN ('approved', 'rejected')) OVER earlier AS decisions_before
            FROM {versions} v JOIN {table} a ON a.id = v.annotation_id
            WHERE a.project_id = %s AND v.action IN ('submitted', 'approved', 'rejected')
            WINDOW running AS (PARTITION BY v.annotation_id ORDER BY v.version),
                   earlier AS (PARTITION BY v.annotation_id ORDER BY v.version
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        )
        SELECT GROUPING(e.author_id, u.username) AS by_author, GROUPING(e.label_class_id) AS by_class,
               e.author_id, u.username, e.label_class_id,
               count(*) FILTER (WHERE e.action = 'submitted') AS submissions,
               count(*) FILTER (WHERE e.action = 'approved') AS approvals,
               count(*) FILTER (WHERE e.action = 'rejected') AS rejections,
               count(*) FILTER (WHERE e.action IN ('approved', 'rejected') AND e.decisions_before = 0) AS reviewed,
               count(*) FILTER (WHERE e.action = 'approved' AND e.decisions_before = 0) AS first_pass,
               count(*) FILTER (
                   WHERE e.action = 'submitted' AND e.last_rejected > coalesce(e.last_approved, 0)
               ) AS resubmissions,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.created_at - e.submitted_at))
                   FILTER (WHERE e.action IN ('approved', 'rejected') AND e.submitted_at IS NOT NULL) AS median_s
        FROM events e LEFT JOIN {users} u ON u.id = e.author_id
        GROUP BY GROUPING SETS ((e.author_id, u.username), (e.label_class_id), ())
    """  # noqa: S608 - table names come from the models, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk])
        rows = cursor.fetchall()
    total = _empty_history()
    by_annotator: dict[int | None, dict[str, Any]] = {}
    by_class: dict[int | None, dict[str, Any]] = {}
    for not_author, not_class, author_id, username, class_id, *figures in rows:
        values = _history_figures(*figures)
        if not not_author:
            by_annotator[author_id] = {"username": username, **values}
        elif not not_class:
            by_class[class_id] = values
        else:
            total = values
    return {"total": total, "by_annotator": by_annotator, "by_class": by_class}


def throughput(project: Project, days: int = 30) -> list[dict[str, Any]]:
    """Per UTC day over the last ``days`` days (days with events only): annotations created,
    submitted, approved, rejected, and ``reviews`` (approved + rejected), from the events."""
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
    return [{**r, "day": r["day"].isoformat(), "reviews": r["approved"] + r["rejected"]} for r in rows]


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
    history = review_history(project)
    return {
        "project": project.pk,
        **counts_by_state(project),
        "review": history["total"],
        "by_class": counts_by_class(project, history),
        "by_annotator": counts_by_annotator(project, history),
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
