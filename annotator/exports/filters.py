"""Which annotations an export holds, and reading them in bounded batches.

Filters are stored on the :class:`~annotator.models.Export` row as JSON and parsed here.
Annotations are read with a server-side cursor (``QuerySet.iterator``) and handed out in
batches of arrays, so an export of 100,000 polygons never holds 100,000 model objects.
Geometries come out of PostGIS as WKB and are parsed with shapely, in EPSG:4326.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import shapely
from django.contrib.gis.db.models.functions import AsWKB
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Polygon
from django.db.models import QuerySet

from annotator.errors import InvalidInput
from annotator.models import Annotation, AnnotationState, Image, LabelClass, Project

DEFAULT_STATES = (AnnotationState.APPROVED,)
BATCH_SIZE = 2000


@dataclass(frozen=True)
class ExportFilters:
    """Annotation selection. ``area`` is a Polygon in EPSG:4326 or None (no area limit)."""

    states: tuple[str, ...] = DEFAULT_STATES
    label_classes: tuple[int, ...] = ()
    images: tuple[int, ...] = ()
    area: Polygon | None = None

    def as_json(self) -> dict:
        return {
            "states": list(self.states),
            "label_classes": list(self.label_classes),
            "images": list(self.images),
            "area": json.loads(self.area.geojson) if self.area is not None else None,
        }


def _ids(raw, name: str) -> tuple[int, ...]:
    if raw in (None, ""):
        return ()
    if not isinstance(raw, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        raise InvalidInput(f"{name} must be a list of ids.", field=name)
    return tuple(sorted(set(raw)))


def parse_filters(project: Project, raw: dict | None) -> ExportFilters:
    """Validate filters against the project: states, label class ids, image ids, area.

    Args:
        project: the exporting project; every id must belong to it.
        raw: ``{"states", "label_classes", "images", "area"}``, each optional; ``area`` is a
            GeoJSON Polygon or MultiPolygon in EPSG:4326.
    Raises:
        InvalidInput: naming the bad field.
    """
    raw = raw or {}
    if not isinstance(raw, dict):
        raise InvalidInput("filters must be an object.", field="filters")
    states = raw.get("states") or list(DEFAULT_STATES)
    if not isinstance(states, list) or not set(states) <= set(AnnotationState.values):
        raise InvalidInput(f"states must be a list of {', '.join(AnnotationState.values)}.", field="states")
    classes = _ids(raw.get("label_classes"), "label_classes")
    known = set(LabelClass.objects.filter(project=project, pk__in=classes).values_list("pk", flat=True))
    if missing := sorted(set(classes) - known):
        raise InvalidInput(f"Label classes {missing} are not in this project.", field="label_classes")
    images = _ids(raw.get("images"), "images")
    known = set(Image.objects.filter(project=project, pk__in=images).values_list("pk", flat=True))
    if missing := sorted(set(images) - known):
        raise InvalidInput(f"Images {missing} are not in this project.", field="images")
    area = None
    if raw.get("area"):
        try:
            area = GEOSGeometry(json.dumps(raw["area"]), srid=4326)
        except (GEOSException, ValueError, TypeError):
            raise InvalidInput("area must be a GeoJSON Polygon in EPSG:4326.", field="area") from None
        if area.geom_type not in ("Polygon", "MultiPolygon") or not area.valid or area.empty:
            raise InvalidInput("area must be a valid, non-empty GeoJSON Polygon in EPSG:4326.", field="area")
    return ExportFilters(tuple(sorted(set(states))), classes, images, area)


def filters_from_json(data: dict) -> ExportFilters:
    """Rebuild filters stored by :meth:`ExportFilters.as_json` (already validated)."""
    area = GEOSGeometry(json.dumps(data["area"]), srid=4326) if data.get("area") else None
    return ExportFilters(
        tuple(data.get("states") or DEFAULT_STATES),
        tuple(data.get("label_classes") or ()),
        tuple(data.get("images") or ()),
        area,
    )


def annotation_queryset(project: Project, filters: ExportFilters) -> QuerySet[Annotation]:
    """Live annotations of ``project`` that pass ``filters``, ordered by id."""
    queryset = Annotation.objects.live().filter(project=project, state__in=filters.states)
    if filters.label_classes:
        queryset = queryset.filter(label_class_id__in=filters.label_classes)
    if filters.images:
        queryset = queryset.filter(image_id__in=filters.images)
    if filters.area is not None:
        queryset = queryset.filter(geometry__intersects=filters.area)
    return queryset.order_by("id")


ROW_FIELDS = (
    "id",
    "image_id",
    "label_class_id",
    "label_class__name",
    "state",
    "author__username",
    "area_m2",
    "created_at",
    "updated_at",
    "submitted_at",
    "reviewed_at",
    "wkb",
    "attributes",
    "source",
    "provenance",
)


@dataclass
class AnnotationBatch:
    """Up to ``BATCH_SIZE`` annotations as parallel arrays; ``geometries`` are shapely, EPSG:4326."""

    ids: np.ndarray
    image_ids: np.ndarray
    class_ids: np.ndarray  # int64, 0 where the annotation has no label class
    class_names: np.ndarray  # object (str | None)
    states: np.ndarray
    authors: np.ndarray
    areas_m2: np.ndarray
    timestamps: dict[str, np.ndarray] = field(default_factory=dict)  # ISO 8601 strings or None
    geometries: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    attributes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))  # dicts: name → value
    sources: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))  # AnnotationSource values
    # dicts: where a drafted or fused annotation came from (run, model, window, figures); {} for others
    provenance: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    def __len__(self) -> int:
        return len(self.ids)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _batch(rows: list[tuple]) -> AnnotationBatch:
    columns = list(zip(*rows, strict=True))
    return AnnotationBatch(
        ids=np.asarray(columns[0], dtype=np.int64),
        image_ids=np.asarray(columns[1], dtype=np.int64),
        class_ids=np.asarray([c or 0 for c in columns[2]], dtype=np.int64),
        class_names=np.asarray(columns[3], dtype=object),
        states=np.asarray(columns[4], dtype=object),
        authors=np.asarray(columns[5], dtype=object),
        areas_m2=np.asarray(columns[6], dtype=np.float64),
        timestamps={
            name: np.asarray([_iso(v) for v in columns[i]], dtype=object)
            for i, name in zip(range(7, 11), ("created", "updated", "submitted", "reviewed"), strict=True)
        },
        geometries=shapely.from_wkb([bytes(w) for w in columns[11]]),
        attributes=_objects([a or {} for a in columns[12]]),
        sources=np.asarray(columns[13], dtype=object),
        provenance=_objects([p or {} for p in columns[14]]),
    )


def _objects(values: list) -> np.ndarray:
    """A 1-d object array of ``values`` (np.asarray would make a list of dicts something else)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def iter_batches(queryset: QuerySet[Annotation], batch_size: int = BATCH_SIZE) -> Iterator[AnnotationBatch]:
    """Read ``queryset`` through a server-side cursor, ``batch_size`` rows at a time."""
    rows = queryset.annotate(wkb=AsWKB("geometry")).values_list(*ROW_FIELDS).iterator(chunk_size=batch_size)
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == batch_size:
            yield _batch(chunk)
            chunk = []
    if chunk:
        yield _batch(chunk)
