"""Review risk: how likely an annotation that SAM2 made is wrong, from SAM2's own figures.

An annotation from SAM2 (a click, source ``sam``, or a drafting run, source ``auto``)
carries in ``provenance`` the figures of the mask it came from: ``predicted_iou`` (the
decoder's IoU head), ``stability`` (SAM2's stability score: the IoU of the mask's logits
thresholded at +1 and -1), ``candidate_disagreement`` (1 - the mean IoU of the chosen mask
with the decoder's other candidates; absent with one candidate) and
``touches_window_edge`` (the mask reaches a window edge that cuts the image). Each figure
becomes a *part* in 0..1 (0 reassuring, 1 alarming):

* predicted IoU ``v``: ``clip((1 - v) / (1 - IOU_FLOOR))``: 1 at or below 0.5;
* stability ``v``: ``clip((1 - v) / (1 - STABILITY_FLOOR))``: 1 at or below 0.5;
* candidate disagreement ``v``: ``clip(v)``;
* touching a window edge: 1 if it does, else 0;
* area: ``clip(|ln(area_m2 / typical_m2)| / ln(AREA_RATIO_FULL))``: 1 at ten times (or a
  tenth of) the class's typical area, the median area (m², geodesic) of the approved
  annotations of its class in the project; absent without a class or with fewer than
  ``MIN_TYPICAL_SAMPLES`` approved ones.

The risk is the weighted mean of the parts present, ``sum(w·part) / sum(w)``, with the
weights of :data:`WEIGHTS` (IoU 0.30, stability 0.25, disagreement 0.15, window edge 0.15,
area 0.15): 0..1, higher is riskier. An annotation without a predicted IoU (drawn by hand,
imported, fused) has no risk (null). The score and its parts are stored on the row
(``risk``, ``risk_parts``) when the annotation is created or its geometry or class change,
so that the review queue orders by it in SQL; the area part uses the class's median at that
time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet

from annotator.models import Annotation, AnnotationState

WEIGHTS: dict[str, float] = {
    "predicted_iou": 0.30,
    "stability": 0.25,
    "candidate_disagreement": 0.15,
    "touches_window_edge": 0.15,
    "area": 0.15,
}
IOU_FLOOR = 0.5
STABILITY_FLOOR = 0.5
AREA_RATIO_FULL = 10.0
MIN_TYPICAL_SAMPLES = 3
# The figures a SAM2 annotation keeps in its provenance (the click path and the drafting runs).
FIGURES = ("predicted_iou", "stability", "candidate_disagreement", "touches_window_edge")


@dataclass(frozen=True)
class Risk:
    """A risk score 0..1 and its parts: name → ``{"value", "part", "weight"}`` (part 0..1)."""

    score: float
    parts: dict[str, dict]


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def risk_of(figures: Mapping, area_m2: float | None = None, typical_area_m2: float | None = None) -> Risk | None:
    """The risk of one annotation (see the module's formula); None without a predicted IoU.

    Args:
        figures: the annotation's provenance (the keys of :data:`FIGURES`; others ignored).
        area_m2: its geodesic area, m².
        typical_area_m2: the median area (m²) of its class's approved annotations, or None.
    """
    iou = _number(figures.get("predicted_iou"))
    if iou is None:
        return None
    parts: dict[str, dict] = {
        "predicted_iou": {"value": iou, "part": _clip((1.0 - iou) / (1.0 - IOU_FLOOR))},
    }
    stability = _number(figures.get("stability"))
    if stability is not None:
        parts["stability"] = {"value": stability, "part": _clip((1.0 - stability) / (1.0 - STABILITY_FLOOR))}
    disagreement = _number(figures.get("candidate_disagreement"))
    if disagreement is not None:
        parts["candidate_disagreement"] = {"value": disagreement, "part": _clip(disagreement)}
    edge = figures.get("touches_window_edge")
    if isinstance(edge, bool):
        parts["touches_window_edge"] = {"value": edge, "part": 1.0 if edge else 0.0}
    area, typical = _number(area_m2), _number(typical_area_m2)
    if area is not None and typical is not None and area > 0 and typical > 0:
        ratio = area / typical
        parts["area"] = {
            "value": area,
            "typical": typical,
            "ratio": ratio,
            "part": _clip(abs(math.log(ratio)) / math.log(AREA_RATIO_FULL)),
        }
    for name, part in parts.items():
        part["weight"] = WEIGHTS[name]
    total = sum(p["weight"] for p in parts.values())
    score = sum(p["weight"] * p["part"] for p in parts.values()) / total
    return Risk(round(score, 6), parts)


class _Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)``: the median of a column, interpolated."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def typical_areas(project_id: int, class_ids: Iterable[int | None]) -> dict[int, float]:
    """Median area (m², geodesic) of the approved annotations of each class of the project
    that has at least :data:`MIN_TYPICAL_SAMPLES` of them (one query)."""
    ids = sorted({c for c in class_ids if c is not None})
    if not ids:
        return {}
    rows = (
        Annotation.objects.live()
        .filter(project_id=project_id, state=AnnotationState.APPROVED, label_class_id__in=ids)
        .values("label_class_id")
        .annotate(median=_Median("area_m2"), n=Count("id"))
    )
    return {r["label_class_id"]: r["median"] for r in rows if r["n"] >= MIN_TYPICAL_SAMPLES}


def has_figures(annotation: Annotation) -> bool:
    return isinstance(annotation.provenance, dict) and "predicted_iou" in annotation.provenance


def assess(annotation: Annotation, typical: Mapping[int, float] | None = None) -> Annotation:
    """Set ``risk`` and ``risk_parts`` of an (unsaved or to-be-saved) annotation from its provenance.

    ``typical`` is :func:`typical_areas` when the caller has it (a batch); else one query.
    """
    if not has_figures(annotation):
        annotation.risk, annotation.risk_parts = None, None
        return annotation
    if typical is None:
        typical = typical_areas(annotation.project_id, [annotation.label_class_id])
    found = risk_of(annotation.provenance, annotation.area_m2, typical.get(annotation.label_class_id))
    annotation.risk = found.score if found else None
    annotation.risk_parts = found.parts if found else None
    return annotation


def assess_unscored(queryset: QuerySet) -> int:
    """Score the annotations of ``queryset`` that carry SAM2 figures but no risk yet (rows a
    drafting run wrote without scoring them); returns how many. Three queries per project
    and one more per :data:`UPDATE_BATCH` rows."""
    unscored = list(
        queryset.filter(risk__isnull=True, provenance__has_key="predicted_iou")
        .filter(~Q(provenance__predicted_iou=None))
        .order_by()
        .only("id", "project_id", "label_class_id", "area_m2", "provenance")
    )
    if not unscored:
        return 0
    by_project: dict[int, list[Annotation]] = {}
    for annotation in unscored:
        by_project.setdefault(annotation.project_id, []).append(annotation)
    for project_id, rows in by_project.items():
        typical = typical_areas(project_id, [a.label_class_id for a in rows])
        for annotation in rows:
            assess(annotation, typical)
    _store(unscored)
    return len(unscored)


UPDATE_BATCH = 2000


def _store(annotations: list[Annotation]) -> None:
    """Write ``risk`` and ``risk_parts`` of many rows: one ``UPDATE … FROM (VALUES …)`` per
    batch (Django's ``bulk_update`` builds a CASE of every row per column: see bench/review_risk.py)."""
    table = connection.ops.quote_name(Annotation._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(annotations), UPDATE_BATCH):
            batch = annotations[start : start + UPDATE_BATCH]
            rows = ", ".join(["(%s::bigint, %s::double precision, %s::jsonb)"] * len(batch))
            params = [v for a in batch for v in (a.pk, a.risk, _json(a.risk_parts))]
            # Only the table's name and placeholders are put into the text; the values are parameters.
            cursor.execute(
                f"UPDATE {table} AS a SET risk = v.risk, risk_parts = v.parts "  # noqa: S608
                f"FROM (VALUES {rows}) AS v(id, risk, parts) WHERE a.id = v.id",
                params,
            )


def _json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value)
