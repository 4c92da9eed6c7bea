"""Mask → outline: the prompted connected part(s) of a decoder mask as a valid polygon.

Everything here is in window pixel coordinates: pixel (col, row) covers the square
[col, col + 1] x [row, row + 1], x to the right and y down.

The endpoint outlines the decoder's own output, its 256 x 256 low-resolution logits
(:func:`logits_outline`): the 1024 x 1024 mask that SAM2 shows is their bilinear upsampling
thresholded at 0, which adds no information, so the zero level of the logits, traced with
sub-pixel precision by marching squares (contourpy), is that mask's outline without its
pixel staircase. Its cost is bounded by the 65,536 grid cells whatever the mask looks like
(an untrained model's noise included), where tracing the upsampled mask costs in proportion
to its ~60,000 pixel-corner vertices. :func:`mask_outline` outlines a pixel mask exactly
(raster first: connected-component labelling, so only the selected parts and their large
holes are polygonized); it is the reference that the logit outline is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

import contourpy
import numpy as np
import shapely
from affine import Affine
from rasterio.features import shapes as raster_shapes
from scipy import ndimage
from shapely.geometry import MultiPolygon, Polygon
from shapely.validation import make_valid

from annotator.sam2.windows import LOW_RES  # torch-free: the default worker imports this module

# Parts are 4-connected (pixels sharing an edge), as rasterio polygonizes them; their holes
# are then the 8-connected background regions inside them.
FOUR = ndimage.generate_binary_structure(2, 1)
EIGHT = ndimage.generate_binary_structure(2, 2)
# The simplification tolerance grows by this factor, at most this far, to meet a vertex budget.
TOLERANCE_STEP = 2.0
MAX_TOLERANCE_PX = 64.0
# The low-resolution logits: 256 x 256 cells (LOW_RES), each 4 x 4 window pixels (SAM2's 1024 frame).
LOW_RES_STEP = 4.0
# At most this many traced vertices are simplified and validated: beyond it the smallest
# holes are filled, so that a noisy mask costs no more than a detailed object (measured:
# ~1 ms of GEOS validation per 1,500 vertices on a 2-core machine).
TRACE_VERTEX_BUDGET = 8_000
_LINEARRING = 2  # shapely.GeometryType.LINEARRING


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


def _axis(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where the upsampled logits are sampled along one axis for a window ``size`` pixels long.

    ``F.interpolate(..., mode="bilinear", align_corners=False)`` from 256 to 1024 samples
    low-resolution index ``u = (x - 2) / 4`` at window coordinate ``x``, clamped to
    [0, 255]: grid point ``i`` sits at ``x = 4 i + 2`` and the field is constant beyond the
    first and last of them. Returns the coordinates (0, every grid point inside the
    window, then ``size``) and, for each, the two grid indices and the weight of the second.
    """
    inside = LOW_RES_STEP * np.arange(LOW_RES) + LOW_RES_STEP / 2
    coords = np.concatenate([[0.0], inside[inside < size], [float(size)]])
    u = np.clip((coords - LOW_RES_STEP / 2) / LOW_RES_STEP, 0, LOW_RES - 1)
    first = np.floor(u).astype(np.intp)
    second = np.minimum(first + 1, LOW_RES - 1)
    return coords, first, second, (u - first).astype(np.float32)


def _resample(logits: np.ndarray, rows: tuple, cols: tuple) -> np.ndarray:
    """``logits`` [256, 256] linearly interpolated at the rows and columns of two :func:`_axis` results."""
    _, r0, r1, rw = rows
    _, c0, c1, cw = cols
    z = logits[r0] * (1 - rw)[:, None] + logits[r1] * rw[:, None]
    return z[:, c0] * (1 - cw) + z[:, c1] * cw


def upsampled_at(logits: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The bilinear upsampling of ``logits`` [256, 256] to 1024 x 1024 at the given pixel rows and columns.

    Equal to ``F.interpolate(logits, (1024, 1024), mode="bilinear")[rows][:, cols]`` without
    computing the other pixels. Returns float32 [len(rows), len(cols)].
    """

    def axis(pixels: np.ndarray) -> tuple:
        u = np.maximum((np.asarray(pixels, dtype=np.float64) + 0.5) / LOW_RES_STEP - 0.5, 0.0)
        first = np.minimum(np.floor(u).astype(np.intp), LOW_RES - 1)
        return None, first, np.minimum(first + 1, LOW_RES - 1), (u - first).astype(np.float32)

    return _resample(logits.astype(np.float32, copy=False), axis(rows), axis(cols))


def _ring_areas(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Signed shoelace areas of the closed rings ``points[offsets[i]:offsets[i + 1]]``."""
    x, y = points[:, 0], points[:, 1]
    cross = x[:-1] * y[1:] - x[1:] * y[:-1]
    # The term from one ring's last point to the next ring's first is never summed.
    return 0.5 * np.add.reduceat(np.append(cross, 0.0), offsets[:-1]) - 0.5 * np.append(cross, 0.0)[offsets[1:] - 1]


def logits_outline(
    logits: np.ndarray,
    width: int,
    height: int,
    positive_px: np.ndarray,
    box_px: np.ndarray | None,
    simplify_px: float,
    min_area_px: float,
    max_vertices: int | None = None,
) -> Outline:
    """The prompted parts of the mask ``logits > 0`` as a valid MultiPolygon in window pixels.

    Args:
        logits: [256, 256] the decoder's low-resolution logits of one mask (SAM2's 1024 x 1024
            frame at a quarter of the resolution).
        width, height: the window's valid size in window pixels; the outline lies within it.
        positive_px: [P, 2] positive points (x, y), window pixels; box_px: [4] x0, y0, x1, y1 or None.
        simplify_px, min_area_px, max_vertices: as in :func:`mask_outline`.

    The parts and holes are those of the upsampled mask's zero level traced at sub-pixel
    precision; selection, speck and hole rules are :func:`select_parts` and
    :func:`fill_small_holes`' on areas in square window pixels.
    """
    rows, cols = _axis(height), _axis(width)
    z = _resample(np.asarray(logits, dtype=np.float32), rows, cols)
    # The mask is ``logits > 0``; a grid value of exactly 0 would put a vertex on a grid
    # point that two rings could share, so it is moved just outside.
    z[z == 0] = -1e-6
    generator = contourpy.contour_generator(
        cols[0], rows[0], z, name="serial", fill_type=contourpy.FillType.ChunkCombinedOffsetOffset
    )
    (points,), (offsets,), (outer,) = generator.filled(0.0, np.inf)
    if points is None:
        return Outline(MultiPolygon(), simplify_px, 0, 0)
    offsets, outer = offsets.astype(np.intp), outer.astype(np.intp)
    ring_count, part_count = len(offsets) - 1, len(outer) - 1
    ring_vertices = np.diff(offsets)
    areas = np.abs(_ring_areas(points, offsets))
    ring_part = np.repeat(np.arange(part_count), np.diff(outer))
    is_shell = np.zeros(ring_count, dtype=bool)
    is_shell[outer[:-1]] = True
    # A part's area is its shell's less all its holes', as select_parts counts its pixels.
    part_areas = np.bincount(ring_part, np.where(is_shell, areas, -areas), minlength=part_count)
    keep = part_areas >= min_area_px
    # Only the parts the prompts can select become shapely objects: a noisy mask has
    # thousands of rings, most of them in parts nobody clicked.
    built = _reachable_parts(points, offsets, outer, keep, part_areas, positive_px, box_px)
    ring_built = built[ring_part]
    built_rings = np.flatnonzero(ring_built)
    rings = np.full(ring_count, None, dtype=object)
    rings[built_rings] = shapely.linearrings(
        points[np.repeat(ring_built, ring_vertices)],
        indices=np.repeat(np.arange(len(built_rings)), ring_vertices[built_rings]),
    )
    built_parts = np.flatnonzero(built)
    parts = shapely.polygons(rings[built_rings], indices=np.searchsorted(built_parts, ring_part[built_rings]))
    chosen = np.zeros(part_count, dtype=bool)
    chosen[built_parts] = _choose(parts, part_areas[built_parts], keep[built_parts], positive_px, box_px)
    if not chosen.any():
        return Outline(MultiPolygon(), simplify_px, 0, 0)
    in_chosen = chosen[ring_part]
    fill = in_chosen & ~is_shell & (areas < min_area_px)
    fill |= _over_budget(in_chosen & ~fill, is_shell, ring_vertices, areas)
    use = in_chosen & ~fill
    return _simplified(rings[use], ring_part[use], is_shell[use], simplify_px, max_vertices, int(fill.sum()))


def _over_budget(kept: np.ndarray, is_shell: np.ndarray, ring_vertices: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """The holes to fill, smallest first, so that the kept rings have at most ``TRACE_VERTEX_BUDGET`` vertices.

    Validating and simplifying cost in proportion to the vertices; a mask with thousands of
    holes (noise) would otherwise cost more than the decoder. Shells are never dropped.
    """
    fill = np.zeros(len(kept), dtype=bool)
    excess = int(ring_vertices[kept].sum()) - TRACE_VERTEX_BUDGET
    if excess <= 0:
        return fill
    holes = np.flatnonzero(kept & ~is_shell)
    holes = holes[np.argsort(areas[holes], kind="stable")]
    dropped = np.cumsum(ring_vertices[holes])
    fill[holes[: int(np.searchsorted(dropped, excess)) + 1]] = True
    return fill


def _reachable_parts(
    points: np.ndarray,
    offsets: np.ndarray,
    outer: np.ndarray,
    keep: np.ndarray,
    part_areas: np.ndarray,
    positive_px: np.ndarray,
    box_px: np.ndarray | None,
) -> np.ndarray:
    """The parts :func:`_choose` can pick, by their shells' bounding boxes (no geometry built).

    A part within 0.5 px of a positive point, or meeting the box, has a shell whose bounding
    box does too; the largest kept part is the fallback. So choosing among these parts gives
    what choosing among all would. Returns a boolean per part.
    """
    low = np.minimum.reduceat(points, offsets[:-1])[outer[:-1]]
    high = np.maximum.reduceat(points, offsets[:-1])[outer[:-1]]
    reachable = np.zeros(len(low), dtype=bool)
    for x, y in np.asarray(positive_px, dtype=np.float64).reshape(-1, 2):
        near_x = (low[:, 0] - 0.5 <= x) & (x <= high[:, 0] + 0.5)
        reachable |= near_x & (low[:, 1] - 0.5 <= y) & (y <= high[:, 1] + 0.5)
    if box_px is not None:
        x0, y0, x1, y1 = (float(v) for v in box_px)
        reachable |= (low[:, 0] <= x1) & (x0 <= high[:, 0]) & (low[:, 1] <= y1) & (y0 <= high[:, 1])
    reachable &= keep
    if keep.any():
        reachable[int(np.argmax(np.where(keep, part_areas, -1.0)))] = True
    return reachable


def _choose(
    parts: np.ndarray, part_areas: np.ndarray, keep: np.ndarray, positive_px: np.ndarray, box_px: np.ndarray | None
) -> np.ndarray:
    """Which of the polygons ``parts`` the prompts select: the rules of :func:`select_parts`."""
    chosen = np.zeros(len(parts), dtype=bool)
    for x, y in np.asarray(positive_px, dtype=np.float64).reshape(-1, 2):
        chosen |= shapely.dwithin(parts, shapely.Point(x, y), 0.5)
    chosen &= keep
    if not chosen.any() and box_px is not None:
        chosen = shapely.intersects(parts, shapely.box(*(float(v) for v in box_px))) & keep
    if not chosen.any() and keep.any():
        chosen[int(np.argmax(np.where(keep, part_areas, -1.0)))] = True
    return chosen


def _simplified(
    rings: np.ndarray,
    ring_part: np.ndarray,
    is_shell: np.ndarray,
    simplify_px: float,
    max_vertices: int | None,
    holes_filled: int,
) -> Outline:
    """The polygons of ``rings`` (each part's shell first, then its holes), simplified ring by ring.

    Douglas-Peucker per ring is cheap (GEOS' polygon simplifier also repairs, which costs
    several times more). The traced rings are valid (marching-squares rings never touch
    or cross); a ring that simplifying broke (a narrow neck, or a neighbour closer than the
    tolerance) keeps its trace, and the result is validated once.
    Given ``max_vertices``, the tolerance doubles (up to ``MAX_TOLERANCE_PX``) while more remain.
    """
    _, part_index = np.unique(ring_part, return_inverse=True)
    traced = MultiPolygon(list(shapely.polygons(rings, indices=part_index)))

    def at(tolerance: float) -> MultiPolygon:
        if tolerance <= 0:
            return traced
        simple = shapely.simplify(rings, tolerance, preserve_topology=False)
        # A hole that collapses is smaller than the tolerance: it is filled. A ring that came
        # out self-intersecting or crossing another keeps its trace (traces never cross).
        collapsed = (shapely.get_num_coordinates(simple) < 4) | (shapely.get_type_id(simple) != _LINEARRING)
        simple = np.where(collapsed, rings, simple)
        broken = collapsed | ~shapely.is_valid(shapely.polygons(simple))
        first, second = shapely.STRtree(simple).query(simple, predicate="intersects")
        crossing = first != second
        broken[first[crossing]] = broken[second[crossing]] = True
        simple = np.where(broken, rings, simple)
        keep = ~(collapsed & ~is_shell)
        _, index = np.unique(part_index[keep], return_inverse=True)
        geometry = MultiPolygon(list(shapely.polygons(simple[keep], indices=index)))
        # A kept trace may still cross a simplified neighbour: then GEOS simplifies and repairs.
        return geometry if geometry.is_valid else simplify(traced, tolerance)

    tolerance = simplify_px
    simplified = at(tolerance)
    vertices = shapely.get_num_coordinates(simplified)
    while max_vertices is not None and vertices > max_vertices and tolerance < MAX_TOLERANCE_PX:
        tolerance = max(tolerance * TOLERANCE_STEP, 1.0)
        simplified = at(tolerance)
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
