"""Which windows the encode job does first: clicks, then open annotate pages' views, then assigned areas.

The order of need, highest first:

1. ``EncodeRequest`` rows of priority CLICK: windows a click is waiting for (the segment
   service asks for them, :mod:`annotator.segment.on_demand`), oldest first;
2. rows of priority VIEW: windows in view of an open annotate page (``POST
   /api/v1/images/{id}/encode-focus/``), newest first; a view not reported again within
   :data:`VIEW_TTL_S` is dropped;
3. windows that overlap an assigned area of the image, in plan order;
4. every other window, in plan order (level, then row, then column).

The running encode job re-reads this between batches (:func:`order_windows` on the rows),
so a click made while a whole-image encode runs is served at the next batch. Rows are the
queue (they survive a restart of web or worker and are easy to inspect); the unique
constraint on (image, cache key, window) keeps two racing requests to one row. A row is
deleted once its window's FeatureTile row exists.

No torch here: the web process imports this module. Pixel coordinates are level-0 image
pixels (col, row) unless stated; offsets are level pixels, as in :mod:`windows`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import numpy as np
import shapely
from affine import Affine
from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from pyproj import CRS, Transformer

from annotator.choices import EncodePriority
from annotator.models import AssignedArea, EncodeRequest, FeatureTile, Image
from annotator.sam2.windows import Window, windows_intersecting

# A view's windows are dropped after this long without being reported again (seconds);
# the annotate page reports its view every 30 s while the image is not fully encoded.
VIEW_TTL_S = 120
# At most this many windows are asked for per reported view: a whole-image view at level 0
# of a 20,000 px image would be 700 windows, which is the whole-image encode, not a focus.
VIEW_MAX_WINDOWS = 24

WindowId = tuple[int, int, int]  # (level, row_off, col_off), level pixels


def window_id(window: Window | FeatureTile | EncodeRequest) -> WindowId:
    return (window.level, window.row_off, window.col_off)


@dataclass(frozen=True)
class PendingRequest:
    """One pending ``EncodeRequest`` as the ordering needs it."""

    window: WindowId
    priority: int
    requested_at: float  # POSIX seconds of the first ask
    seen_at: float  # POSIX seconds of the latest ask


def order_windows(todo: list[Window], requests: list[PendingRequest], area_windows: set[WindowId]) -> list[Window]:
    """``todo`` (in plan order) in the order of need: clicks (oldest first), views (newest first), areas, the rest.

    A pure function: the encode job calls it between batches with the rows of the moment.
    Requests for windows not in ``todo`` (already stored, or not in the plan) are ignored.
    """
    by_id = {window_id(w): w for w in todo}
    clicks = sorted(
        (r for r in requests if r.priority == EncodePriority.CLICK and r.window in by_id),
        key=lambda r: (r.requested_at, r.window),
    )
    views = sorted(
        (r for r in requests if r.priority == EncodePriority.VIEW and r.window in by_id),
        key=lambda r: (-r.seen_at, r.window),
    )
    ordered: list[Window] = []
    taken: set[WindowId] = set()
    for request in [*clicks, *views]:
        if request.window not in taken:
            taken.add(request.window)
            ordered.append(by_id[request.window])
    for window in todo:
        key = window_id(window)
        if key in area_windows and key not in taken:
            taken.add(key)
            ordered.append(window)
    ordered.extend(w for w in todo if window_id(w) not in taken)
    return ordered


# ---------------------------------------------------------------------------------------
# Requests (rows)


def request_windows(image: Image, cache_key: str, windows: list[WindowId], priority: EncodePriority) -> None:
    """Ask for ``windows`` at ``priority``: one row per window, however many requests race for it.

    ``INSERT … ON CONFLICT`` on the unique window: an existing row keeps its first
    ``requested_at`` and takes the higher priority (the lower number); ``seen_at`` is now.
    """
    if not windows:
        return
    now = timezone.now()
    table = EncodeRequest._meta.db_table
    rows = [(image.pk, cache_key, level, row, col, int(priority), now, now) for level, row, col in sorted(set(windows))]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {table} (image_id, cache_key, level, row_off, col_off, priority, requested_at, seen_at) "  # noqa: S608 - the model's table, values are parameters
        f"VALUES {values} ON CONFLICT (image_id, cache_key, level, row_off, col_off) DO UPDATE SET "
        f"priority = LEAST({table}.priority, EXCLUDED.priority), seen_at = EXCLUDED.seen_at, "
        f"requested_at = CASE WHEN EXCLUDED.priority < {table}.priority "
        f"THEN EXCLUDED.requested_at ELSE {table}.requested_at END"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def pending_requests(image: Image, cache_key: str) -> list[PendingRequest]:
    """The image's pending requests under ``cache_key``; views older than :data:`VIEW_TTL_S` are deleted first."""
    stale_view = timezone.now() - timedelta(seconds=VIEW_TTL_S)
    EncodeRequest.objects.filter(image=image, priority=EncodePriority.VIEW, seen_at__lt=stale_view).delete()
    rows = EncodeRequest.objects.filter(image=image, cache_key=cache_key).values_list(
        "level", "row_off", "col_off", "priority", "requested_at", "seen_at"
    )
    return [PendingRequest((lv, r, c), p, req.timestamp(), seen.timestamp()) for lv, r, c, p, req, seen in rows]


def forget_stored(image: Image, cache_key: str) -> int:
    """Delete the image's requests that are done (their window has a FeatureTile row) or of another cache key."""
    same_window = {name: OuterRef(name) for name in ("level", "row_off", "col_off")}
    stored = FeatureTile.objects.filter(image=image, cache_key=cache_key, **same_window)
    rows = EncodeRequest.objects.filter(image=image).filter(~Q(cache_key=cache_key) | Q(Exists(stored)))
    deleted, _ = rows.delete()
    return deleted


def _windows_q(windows: list[WindowId]) -> Q:
    where = Q(pk__in=[])
    for level, row, col in windows:
        where |= Q(level=level, row_off=row, col_off=col)
    return where


def stored_windows(image: Image, cache_key: str, windows: list[WindowId]) -> set[WindowId]:
    """Which of ``windows`` have a FeatureTile row under ``cache_key`` (one query)."""
    if not windows:
        return set()
    rows = FeatureTile.objects.filter(_windows_q(windows), image=image, cache_key=cache_key)
    return set(rows.values_list("level", "row_off", "col_off"))


# ---------------------------------------------------------------------------------------
# Views and areas → windows


@lru_cache(maxsize=64)
def _from_4326(crs_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(crs_wkt), always_xy=True)


def lonlat_to_pixels(image: Image, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """EPSG:4326 (lon, lat) → level-0 image pixels (col, row), float, [N, 2]."""
    x, y = _from_4326(image.crs_wkt).transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    inverse = ~Affine.from_gdal(*image.geotransform)
    cols = inverse.a * x + inverse.b * y + inverse.c
    rows = inverse.d * x + inverse.e * y + inverse.f
    return np.column_stack([cols, rows])


def _image_affine(image: Image) -> Affine:
    return Affine.from_gdal(*image.geotransform)


def view_windows(image: Image, bbox: tuple[float, float, float, float]) -> list[Window]:
    """The windows a view of ``bbox`` (west, south, east, north; EPSG:4326) needs first.

    Level by level from the finest, the windows that overlap the view, as long as a level
    adds no more than what is left of :data:`VIEW_MAX_WINDOWS` (a level that would add
    more is skipped; a coarser one may still fit): zoomed in, the finest windows under the
    view; zoomed out, the coarse levels that cover it.
    """
    west, south, east, north = bbox
    corners = lonlat_to_pixels(image, np.array([west, east, east, west]), np.array([south, south, north, north]))
    if not np.isfinite(corners).all():
        return []
    col_min, row_min = np.clip(corners.min(axis=0), 0, [image.width, image.height])
    col_max, row_max = np.clip(corners.max(axis=0), 0, [image.width, image.height])
    if col_max <= col_min or row_max <= row_min:
        return []
    candidates = windows_intersecting(
        image.width,
        image.height,
        _image_affine(image),
        (float(col_min), float(row_min), float(col_max), float(row_max)),
        stride=settings.SAM2_WINDOW_STRIDE,
    )
    by_level: dict[int, list[Window]] = {}
    for window in candidates:
        by_level.setdefault(window.level, []).append(window)
    chosen: list[Window] = []
    for level in sorted(by_level):
        if len(chosen) + len(by_level[level]) <= VIEW_MAX_WINDOWS:
            chosen.extend(by_level[level])
    return chosen


def area_windows(image: Image, plan: list[Window]) -> set[WindowId]:
    """The windows of ``plan`` that overlap an assigned area of ``image`` (their valid part, level-0 pixels)."""
    polygons = []
    for geometry in AssignedArea.objects.filter(image=image).values_list("geometry", flat=True):
        ring = np.asarray(geometry.exterior_ring.coords, dtype=float)
        polygons.append(shapely.Polygon(lonlat_to_pixels(image, ring[:, 0], ring[:, 1])))
    if not polygons or not plan:
        return set()
    areas = shapely.union_all([p.buffer(0) for p in polygons])
    boxes = shapely.box(
        [w.src_col_off for w in plan],
        [w.src_row_off for w in plan],
        [w.src_col_off + w.src_width for w in plan],
        [w.src_row_off + w.src_height for w in plan],
    )
    hits = shapely.intersects(boxes, areas)
    return {window_id(w) for w, hit in zip(plan, hits, strict=True) if hit}
