"""Mask → outline: the prompted connected part(s) of a decoder mask as a valid polygon.

Everything here is in window pixel coordinates: pixel (col, row) covers the square
[col, col + 1] x [row, row + 1], x to the right and y down. The work is done on the raster
first (connected-component labelling, so only the selected parts and their large holes are
ever polygonized), because polygonizing, simplifying and validating cost in proportion to
the vertices, and an arbitrary decoder mask can have tens of thousands of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from rasterio.features import shapes as raster_shapes
from scipy import ndimage
from shapely.geometry import MultiPolygon, Polygon
from shapely.validation import make_valid

# Parts are 4-connected (pixels sharing an edge), as rasterio polygonizes them; their holes
# are then the 8-connected background regions inside them.
FOUR = ndimage.generate_binary_structure(2, 1)
EIGHT = ndimage.generate_binary_structure(2, 2)
# The simplification tolerance grows by this factor, at most this far, to meet a vertex budget.
TOLERANCE_STEP = 2.0
MAX_TOLERANCE_PX = 64.0


@dataclass(frozen=True)
class Outline:
    """A mask's outline in window pixels, with how it was simplified."""

    geometry: MultiPolygon
    simplify_px: float  # the tolerance used (larger than asked when the vertex budget required it)
    vertices: int
    holes_filled: int  # holes smaller than the minimum area that were filled


def select_parts(
    mask: np.ndarray, positive_px: np.ndarray, box_px: np.ndarray | None, min_area_px: float
) -> np.ndarray:
    """The 4-connected parts of ``mask`` [h, w] that the prompts select, as a boolean mask.

    Parts smaller than ``min_area_px`` pixels are specks and never selected. Selected: the
    parts under (or within half a pixel of) a positive point; with none, the parts meeting
    the box; with neither, the largest part.
    """
    labels, count = ndimage.label(mask, structure=FOUR)
    if count == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_area_px
    keep[0] = False
    chosen = np.zeros(count + 1, dtype=bool)
    for x, y in np.asarray(positive_px, dtype=np.float64).reshape(-1, 2):
        chosen[_labels_at(labels, float(x), float(y))] = True
    chosen &= keep
    if not chosen.any() and box_px is not None:
        x0, y0, x1, y1 = (float(v) for v in box_px)
        r0, r1 = max(0, int(np.floor(y0))), min(mask.shape[0], int(np.ceil(y1)))
        c0, c1 = max(0, int(np.floor(x0))), min(mask.shape[1], int(np.ceil(x1)))
        chosen[np.unique(labels[r0:r1, c0:c1])] = True
        chosen &= keep
    if not chosen.any() and keep.any():
        chosen[int(np.argmax(np.where(keep, sizes, -1)))] = True
    return chosen[labels]


def _labels_at(labels: np.ndarray, x: float, y: float) -> list[int]:
    """Labels of the pixel containing (x, y), else of the pixels within half a pixel of it."""
    h, w = labels.shape
    col, row = int(np.floor(x)), int(np.floor(y))
    if 0 <= row < h and 0 <= col < w and labels[row, col]:
        return [int(labels[row, col])]
    found = []
    for r in range(int(np.floor(y - 0.5)), int(np.floor(y + 0.5)) + 1):
        for c in range(int(np.floor(x - 0.5)), int(np.floor(x + 0.5)) + 1):
            if not (0 <= r < h and 0 <= c < w) or not labels[r, c]:
                continue
            dx = max(c - x, 0.0, x - (c + 1))
            dy = max(r - y, 0.0, y - (r + 1))
            if dx * dx + dy * dy <= 0.25:
                found.append(int(labels[r, c]))
    return found


def fill_small_holes(mask: np.ndarray, min_area_px: float) -> tuple[np.ndarray, int]:
    """``mask`` with its enclosed background regions of fewer than ``min_area_px`` pixels filled."""
    padded = np.pad(mask, 1)
    background, count = ndimage.label(~padded, structure=EIGHT)
    if count <= 1:
        return mask, 0
    sizes = np.bincount(background.ravel(), minlength=count + 1)
    fill = sizes < min_area_px
    fill[0] = False
    fill[background[0, 0]] = False  # the outside (the padding is one region with it)
    filled = padded | fill[background]
    return filled[1:-1, 1:-1], int(fill.sum())


def polygonize(mask: np.ndarray, offset: tuple[float, float] = (0.0, 0.0)) -> list[Polygon]:
    """Rasterio's polygons of the True pixels (4-connected), shifted by ``offset`` (x, y) pixels."""
    transform = Affine.translation(*offset)
    return [
        _polygon(geom) for geom, _ in raster_shapes(mask.view(np.uint8), mask=mask, connectivity=4, transform=transform)
    ]


def _polygon(geom: dict) -> Polygon:
    exterior = shapely.linearrings(np.asarray(geom["coordinates"][0], dtype=np.float64))
    holes = [shapely.linearrings(np.asarray(ring, dtype=np.float64)) for ring in geom["coordinates"][1:]]
    return Polygon(exterior, holes) if holes else Polygon(exterior)


def simplify(geometry: MultiPolygon, tolerance_px: float) -> MultiPolygon:
    """Douglas-Peucker per ring, which is fast; the topology-preserving variant only when that breaks validity."""
    if tolerance_px <= 0:
        return geometry
    fast = shapely.simplify(geometry, tolerance_px, preserve_topology=False)
    if fast.is_valid and not fast.is_empty:
        return as_multipolygon(fast)
    careful = shapely.simplify(geometry, tolerance_px, preserve_topology=True)
    return as_multipolygon(careful if careful.is_valid else make_valid(careful))


def mask_outline(
    mask: np.ndarray,
    positive_px: np.ndarray,
    box_px: np.ndarray | None,
    simplify_px: float,
    min_area_px: float,
    max_vertices: int | None = None,
) -> Outline:
    """The prompted parts of ``mask`` [h, w] as a valid MultiPolygon in window pixels.

    Parts and holes smaller than ``min_area_px`` pixels are dropped; the outline is
    simplified by ``simplify_px``; given ``max_vertices``, the tolerance doubles (up to
    ``MAX_TOLERANCE_PX``) while more vertices than that remain, so that the outline can be
    saved under the annotation vertex limit.
    """
    selected = select_parts(mask, positive_px, box_px, min_area_px)
    rows = np.flatnonzero(selected.any(axis=1))
    if not len(rows):
        return Outline(MultiPolygon(), simplify_px, 0, 0)
    cols = np.flatnonzero(selected.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop, holes_filled = fill_small_holes(selected[r0:r1, c0:c1], min_area_px)
    # rasterio's 4-connected polygons are valid: a part never touches its own holes.
    geometry = MultiPolygon(polygonize(np.ascontiguousarray(crop), (float(c0), float(r0))))
    tolerance = simplify_px
    simplified = simplify(geometry, tolerance)
    vertices = shapely.get_num_coordinates(simplified)
    while max_vertices is not None and vertices > max_vertices and tolerance < MAX_TOLERANCE_PX:
        tolerance = max(tolerance * TOLERANCE_STEP, 1.0)
        simplified = simplify(geometry, tolerance)
        vertices = shapely.get_num_coordinates(simplified)
    return Outline(simplified, tolerance, int(vertices), holes_filled)


def polygon_parts(geometry) -> list[Polygon]:
    """The non-degenerate polygons of any geometry (``make_valid`` collections included)."""
    if geometry is None or geometry.is_empty:
        return []
    if geometry.geom_type == "Polygon":
        return [geometry] if geometry.area > 0 else []
    if geometry.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [p for part in geometry.geoms for p in polygon_parts(part)]
    return []


def as_multipolygon(geometry) -> MultiPolygon:
    """Polygons of any geometry as one MultiPolygon."""
    return geometry if isinstance(geometry, MultiPolygon) else MultiPolygon(polygon_parts(geometry))
