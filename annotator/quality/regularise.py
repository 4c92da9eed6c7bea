"""Building regularisation: square the corners of footprints, keep touching buildings touching.

The per-building part (simplify, snap each edge to the building's orientation, join the
snapped edges, merge near-parallel steps) is the ``buildingregulariser`` package's. What it
does not do is the group part, written here: footprints that touch (within the tolerance)
form a group that shares one orientation, and after each is regularised the walls of
different footprints that lie on (nearly) the same line are moved onto one line, so two
buildings that shared a wall still share it: no gap and no overlap open between them.

Everything geometric here works in metres, in a projected CRS (the image's own when it is
projected in metres, else the UTM zone of the footprints); the public entry for stored
annotations (:func:`regularise_4326`) takes and returns EPSG:4326 (lon, lat).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.affinity
from django.contrib.gis.geos import Polygon as GEOSPolygon
from django.db import transaction
from django.db.models import Q
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, Polygon

from annotator.access import Access
from annotator.errors import InvalidInput, NotFound
from annotator.geometry import polygon_iou
from annotator.models import Annotation, Image, Project
from annotator.workflow import annotations

# The lib's own default: diagonals only where an edge is within 7.5° of 45°, so noisy
# right angles do not become chamfers.
DIAGONAL_THRESHOLD_REDUCTION_DEG = 15.0
MIN_TOLERANCE_M = 0.05
MAX_TOLERANCE_M = 5.0
# Edges shorter than this (metres) carry no orientation: vertices of a round trip.
_TINY_M = 1e-6


@dataclass(frozen=True)
class RegulariseOptions:
    """How footprints are regularised.

    Attributes:
        allow_45: edges may also run at 45° to the orientation (else only 0° and 90°).
        tolerance_m: metres. Simplification tolerance of the outline, the distance under
            which two footprints count as touching, and how far apart two walls may be
            and still be put on one line. Steps in a wall narrower than twice this go.
    """

    allow_45: bool = False
    tolerance_m: float = 0.5

    def as_json(self) -> dict:
        return {"allow_45": self.allow_45, "tolerance_m": self.tolerance_m}


def parse_options(raw: dict | None) -> RegulariseOptions:
    """``{"allow_45": bool, "tolerance_m": number}``, both optional.

    Raises:
        InvalidInput: naming the bad field.
    """
    raw = raw or {}
    if not isinstance(raw, dict):
        raise InvalidInput("Regularisation options must be an object.", field="options")
    allow_45 = raw.get("allow_45", False)
    if not isinstance(allow_45, bool):
        raise InvalidInput("allow_45 must be true or false.", field="allow_45")
    tolerance = raw.get("tolerance_m", 0.5)
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not MIN_TOLERANCE_M <= tolerance <= MAX_TOLERANCE_M
    ):
        raise InvalidInput(
            f"tolerance_m must be a number of metres from {MIN_TOLERANCE_M} to {MAX_TOLERANCE_M}.",
            field="tolerance_m",
        )
    return RegulariseOptions(allow_45=allow_45, tolerance_m=float(tolerance))


@dataclass(frozen=True)
class RegularisedFootprint:
    """One footprint after regularisation.

    Attributes:
        geometry: Polygon or MultiPolygon, same CRS as the input.
        iou: intersection over union with the input footprint (0..1).
        max_angle_deviation_deg: the largest angle, degrees, between an edge of the result
            and the nearest allowed direction (the orientation + multiples of 90°, or 45°).
        orientation_deg: the group's orientation, degrees in [0, 90), counter-clockwise
            from the x axis of the CRS.
        group: index of the group of touching footprints it belongs to.
    """

    geometry: Polygon | MultiPolygon
    iou: float
    max_angle_deviation_deg: float
    orientation_deg: float
    group: int

    def report(self) -> dict:
        return {
            "iou": round(self.iou, 4),
            "max_angle_deviation_deg": round(self.max_angle_deviation_deg, 4),
            "orientation_deg": round(self.orientation_deg, 3),
            "group": self.group,
        }


# --- groups ----------------------------------------------------------------------------


def touching_groups(footprints: Sequence[shapely.Geometry], distance_m: float) -> list[int]:
    """Group index of each footprint: footprints closer than ``distance_m`` (metres), and
    chains of them, share a group (numbered from 0 in order of first appearance)."""
    parent = list(range(len(footprints)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tree = shapely.STRtree(footprints)
    pairs = tree.query(footprints, predicate="dwithin", distance=distance_m)
    for a, b in pairs.T.tolist():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(root(i), len(numbers)) for i in range(len(footprints))]


def dominant_orientation(polygons: Sequence[Polygon], tolerance_m: float) -> float:
    """The orientation, degrees in [0, 90), that the edges of ``polygons`` follow most.

    Edge directions are taken modulo 90° (a wall and its perpendicular agree) and weighted
    by length; the peak of a 1° histogram, smoothed over ±2°, is refined to the weighted
    circular mean of the edges within 10° of it, so the result is not tied to whole degrees.
    """
    angles, weights = [], []
    for polygon in polygons:
        simple = polygon.simplify(tolerance_m, preserve_topology=True)
        for ring in [simple.exterior, *simple.interiors]:
            xy = np.asarray(ring.coords)
            d = np.diff(xy, axis=0)
            length = np.hypot(d[:, 0], d[:, 1])
            keep = length > _TINY_M
            angles.append(np.degrees(np.arctan2(d[keep, 1], d[keep, 0])) % 90.0)
            weights.append(length[keep])
    angle = np.concatenate(angles) if angles else np.empty(0)
    weight = np.concatenate(weights) if weights else np.empty(0)
    if not len(angle) or weight.sum() <= 0:
        return 0.0
    histogram = np.bincount(np.floor(angle).astype(int) % 90, weights=weight, minlength=90)
    smoothed = sum(np.roll(histogram, k) * w for k, w in ((-2, 1), (-1, 2), (0, 3), (1, 2), (2, 1)))
    peak = float(np.argmax(smoothed)) + 0.5
    offset = (angle - peak + 45.0) % 90.0 - 45.0
    near = np.abs(offset) <= 10.0
    if not near.any():
        return peak % 90.0
    # Mean on the circle of period 90°: angles x4 on the unit circle.
    theta = np.radians(offset[near] * 4.0)
    mean = math.degrees(math.atan2((weight[near] * np.sin(theta)).sum(), (weight[near] * np.cos(theta)).sum())) / 4
    return (peak + mean) % 90.0


# --- walls as lines --------------------------------------------------------------------


@dataclass
class _Wall:
    """One edge of a regularised ring in the group's frame (its orientation along x):
    direction ``k`` (angle k x step degrees), offset along the unit normal, extent along
    the direction (``lo`` ≤ ``hi``), and the footprint it belongs to. A ``fixed`` wall is
    a neighbour's that is not being regularised: others move onto it, it does not move."""

    footprint: int
    k: int
    offset: float
    lo: float
    hi: float
    fixed: bool = False


def _unit(k: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    a = math.radians(k * step)
    return np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])


def _walls_of_ring(points: np.ndarray, step: float, footprint: int) -> list[_Wall]:
    """The ring (N x 2, not closed) as walls: each edge snapped to the nearest direction of
    ``step`` degrees, consecutive walls of one direction merged (length-weighted offset)."""
    n_dirs = round(180 / step)
    walls: list[_Wall] = []
    for i in range(len(points)):
        p, q = points[i], points[(i + 1) % len(points)]
        d = q - p
        length = float(np.hypot(*d))
        if length <= _TINY_M:
            continue
        k = round(math.degrees(math.atan2(d[1], d[0])) % 180 / step) % n_dirs
        along, normal = _unit(k, step)
        offset = float((p + q) @ normal / 2)
        a, b = float(p @ along), float(q @ along)
        wall = _Wall(footprint, k, offset, min(a, b), max(a, b))
        if walls and walls[-1].k == k:
            _merge(walls[-1], wall, walls[-1].hi - walls[-1].lo, length)
        else:
            walls.append(wall)
    if len(walls) > 1 and walls[0].k == walls[-1].k:
        last = walls.pop()
        _merge(walls[0], last, walls[0].hi - walls[0].lo, last.hi - last.lo)
    return walls


def _corners(walls: list[_Wall], step: float) -> np.ndarray | None:
    """Vertices of a ring whose edges lie on ``walls``: each the crossing of consecutive walls."""
    if len(walls) < 3:
        return None
    points = []
    for i in range(len(walls)):
        w1, w2 = walls[i - 1], walls[i]
        (_a1, n1), (_a2, n2) = _unit(w1.k, step), _unit(w2.k, step)
        matrix = np.array([n1, n2])
        if abs(np.linalg.det(matrix)) < 1e-9:
            return None
        points.append(np.linalg.solve(matrix, [w1.offset, w2.offset]))
    return np.array(points)


def _merge(first: _Wall, second: _Wall, first_length: float, second_length: float) -> None:
    """Fold ``second`` (parallel) into ``first``: offset weighted by the walls' lengths."""
    total = first_length + second_length
    if total > 0:
        first.offset = (first.offset * first_length + second.offset * second_length) / total
    first.lo, first.hi = min(first.lo, second.lo), max(first.hi, second.hi)


def _drop_short_walls(walls: list[_Wall], step: float, min_length_m: float) -> list[_Wall]:
    """Remove the shortest wall while it is shorter than ``min_length_m`` (metres): the small
    zig-zags that outline noise leaves after each edge is turned to an allowed direction.
    Its neighbours then meet, merged into one wall where they are parallel. A ring keeps
    at least four walls (three with diagonals)."""
    walls = list(walls)
    least = 3 if step < 90 else 4
    while len(walls) > least:
        corners = _corners(walls, step)
        if corners is None:
            break
        # Wall i runs from corner i (crossing with wall i-1) to corner i+1.
        lengths = np.hypot(*(np.roll(corners, -1, axis=0) - corners).T)
        shortest = int(np.argmin(lengths))
        if lengths[shortest] >= min_length_m:
            break
        n = len(walls)
        before, after = (shortest - 1) % n, (shortest + 1) % n
        if walls[before].k == walls[after].k and n - 2 >= least:
            _merge(walls[before], walls[after], lengths[before], lengths[after])
            walls = [w for i, w in enumerate(walls) if i not in (shortest, after)]
        elif walls[before].k != walls[after].k:
            walls = [w for i, w in enumerate(walls) if i != shortest]
        else:
            break
    return walls


def _snap_shared_walls(walls: list[_Wall], tolerance_m: float) -> None:
    """Put walls of different footprints on one line where they are parallel, less than
    ``tolerance_m`` apart and their extents overlap or nearly meet (a shared wall, or one
    facade of a row): each set gets the length-weighted mean offset. Changes ``walls``."""
    parent = list(range(len(walls)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_direction: dict[int, list[int]] = {}
    for i, wall in enumerate(walls):
        by_direction.setdefault(wall.k, []).append(i)
    for members in by_direction.values():
        members.sort(key=lambda i: walls[i].offset)
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if walls[j].offset - walls[i].offset > tolerance_m:
                    break
                a, b = walls[i], walls[j]
                if a.footprint == b.footprint:
                    continue
                if min(a.hi, b.hi) - max(a.lo, b.lo) >= -tolerance_m:
                    parent[root(j)] = root(i)
    sets: dict[int, list[_Wall]] = {}
    for i, wall in enumerate(walls):
        sets.setdefault(root(i), []).append(wall)
    for members in sets.values():
        if len(members) < 2:
            continue
        anchors = [w for w in members if w.fixed] or members
        lengths = np.array([max(w.hi - w.lo, _TINY_M) for w in anchors])
        offset = float(np.average([w.offset for w in anchors], weights=lengths))
        for wall in members:
            if not wall.fixed:
                wall.offset = offset


# --- the regularisation ----------------------------------------------------------------

# A neighbour's edge within this angle (degrees) of an allowed direction counts as a straight
# wall that a regularised footprint may be snapped onto (a regularised neighbour's are exact).
FIXED_WALL_ANGLE_DEG = 0.5


def _fixed_walls(local: Polygon, step: float, footprint: int, min_length_m: float) -> list[_Wall]:
    """The walls of a neighbour that stays as it is (frame: the group's orientation along x):
    its edges at least ``min_length_m`` long that follow an allowed direction."""
    walls = []
    for ring in [local.exterior, *local.interiors]:
        xy = np.asarray(ring.coords)
        for p, q in itertools.pairwise(xy):
            d = q - p
            length = float(np.hypot(*d))
            angle = math.degrees(math.atan2(d[1], d[0])) % 180
            k = round(angle / step) % round(180 / step)
            off = min(abs(angle - k * step), 180 - abs(angle - k * step))
            if length < min_length_m or off > FIXED_WALL_ANGLE_DEG:
                continue
            along, normal = _unit(k, step)
            a, b = float(p @ along), float(q @ along)
            walls.append(_Wall(footprint, k, float((p + q) @ normal / 2), min(a, b), max(a, b), fixed=True))
    return walls


def _regular_share(polygons: Sequence[Polygon], orientation: float, step: float) -> float:
    """The share (0..1) of the polygons' perimeter that runs within ``FIXED_WALL_ANGLE_DEG`` of
    ``orientation`` + a multiple of ``step``: 1 for regularised footprints."""
    total = regular = 0.0
    for polygon in polygons:
        for ring in [polygon.exterior, *polygon.interiors]:
            d = np.diff(np.asarray(ring.coords), axis=0)
            length = np.hypot(d[:, 0], d[:, 1])
            rest = (np.degrees(np.arctan2(d[:, 1], d[:, 0])) - orientation) % step
            regular += float(length[np.minimum(rest, step - rest) <= FIXED_WALL_ANGLE_DEG].sum())
            total += float(length.sum())
    return regular / total if total > 0 else 0.0


def _library_ring(ring: np.ndarray, options: RegulariseOptions) -> np.ndarray | None:
    """The library's per-building step on one closed ring (frame: orientation along x):
    edges turned to the allowed directions and joined. Returns N x 2, not closed."""
    points = ring[:-1]
    if len(points) < 3:
        return None
    vectors = np.roll(points, -1, axis=0) - points
    lengths = np.hypot(vectors[:, 0], vectors[:, 1])
    valid = lengths > _TINY_M
    if valid.sum() < 3:
        return None
    index = np.arange(len(points))
    edge_data = {
        "azimuth_angles": (np.degrees(np.arctan2(vectors[valid, 1], vectors[valid, 0])) + 360) % 360,
        "edge_indices": np.stack([index, (index + 1) % len(points)], axis=1)[valid],
        # The group's orientation, not the one the library would find for this ring alone.
        "main_direction": 0.0,
    }
    # Imported here: the library imports geopandas and pandas (~30 MiB resident) into every
    # web process, most of which never regularise.
    from buildingregulariser.regularization import connect_regularized_edges, orient_edges

    # buildingregulariser 0.2.5 without 45° turns an edge that runs against the orientation
    # (azimuth ≈ 180°) into a perpendicular one; its 45° branch classifies edges modulo
    # 180° correctly, and a diagonal zone of width 0 makes that branch the 90° rule.
    oriented, codes = orient_edges(
        points,
        edge_data,
        allow_45_degree=True,
        diagonal_threshold_reduction=DIAGONAL_THRESHOLD_REDUCTION_DEG if options.allow_45 else 22.5,
    )
    joined = connect_regularized_edges(oriented, codes, 2 * options.tolerance_m)
    if len(joined) < 3:
        return None
    return np.array(joined, dtype=float)


def _parts(geometry: shapely.Geometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry] if not geometry.is_empty else []
    return [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]


def _largest_valid(polygon: Polygon) -> Polygon | None:
    if polygon.is_valid and polygon.area > 0:
        return polygon
    parts = _parts(shapely.make_valid(polygon))
    return max(parts, key=lambda p: p.area) if parts else None


def _max_deviation(geometry: shapely.Geometry, orientation: float, step: float) -> float:
    worst = 0.0
    for polygon in _parts(geometry):
        for ring in [polygon.exterior, *polygon.interiors]:
            d = np.diff(np.asarray(ring.coords), axis=0)
            keep = np.hypot(d[:, 0], d[:, 1]) > 1e-3  # a millimetre: shorter edges have no direction
            if not keep.any():
                continue
            angle = (np.degrees(np.arctan2(d[keep, 1], d[keep, 0])) - orientation) % step
            worst = max(worst, float(np.minimum(angle, step - angle).max()))
    return worst


def regularise_footprints(
    footprints: Sequence[shapely.Geometry],
    options: RegulariseOptions = RegulariseOptions(),
    fixed: Sequence[shapely.Geometry] = (),
) -> list[RegularisedFootprint]:
    """Regularise building footprints, group by group.

    Args:
        footprints: Polygons or MultiPolygons in a projected CRS in metres.
        options: see :class:`RegulariseOptions`.
        fixed: neighbours (same CRS) that stay as they are. A footprint that touches regular
            ones (regularised before) takes their orientation and has its shared walls
            moved onto theirs; irregular ones are left out of the group's orientation.

    Returns:
        One :class:`RegularisedFootprint` per input, in the same order and CRS. A part
        that cannot be regularised (fewer than three walls after simplification) is kept
        as it was, and its angle deviation says so.
    """
    moving = len(footprints)
    footprints = [shapely.make_valid(f) if not f.is_valid else f for f in [*footprints, *fixed]]
    groups = touching_groups(footprints, options.tolerance_m)
    step = 45.0 if options.allow_45 else 90.0
    results: list[RegularisedFootprint | None] = [None] * moving
    for group in sorted(set(groups[:moving])):
        members = [i for i, g in enumerate(groups) if g == group and i < moving]
        neighbours = [i for i, g in enumerate(groups) if g == group and i >= moving]
        polygons = [p for i in members for p in _parts(footprints[i])]
        orientation = dominant_orientation(polygons, options.tolerance_m)
        still = [p for i in neighbours for p in _parts(footprints[i])]
        if still:
            theirs = dominant_orientation(still, options.tolerance_m)
            if _regular_share(still, theirs, step) >= 0.9:
                orientation = theirs
        origin = shapely.union_all(polygons).centroid if polygons else shapely.Point(0, 0)
        # In the group's frame its orientation runs along x: every allowed direction is a
        # multiple of ``step`` there, for every footprint of the group alike.
        rings: list[tuple[int, int, int, list[_Wall]]] = []  # (footprint, part, ring, walls)
        kept: dict[tuple[int, int], Polygon] = {}
        walls: list[_Wall] = []
        for i in members:
            for part_index, part in enumerate(_parts(footprints[i])):
                local = shapely.affinity.rotate(part, -orientation, origin=origin)
                # Simplified but not cut into pieces as the library's own preprocessing does:
                # its joining step turns a wall cut near a corner into a step (measured: 1 m
                # steps on 0.15 m noise), and the orientation is the group's, not taken
                # from a histogram of the pieces.
                simple = local.simplify(options.tolerance_m, preserve_topology=True).buffer(0)
                if not isinstance(simple, Polygon) or simple.is_empty:
                    kept[(i, part_index)] = part
                    continue
                ring_walls = []
                for ring in [simple.exterior, *simple.interiors]:
                    joined = _library_ring(np.asarray(ring.coords), options)
                    ring_wall = _walls_of_ring(joined, step, i) if joined is not None else []
                    ring_walls.append(_drop_short_walls(ring_wall, step, 2 * options.tolerance_m))
                if len(ring_walls[0]) < 3:
                    kept[(i, part_index)] = part
                    continue
                for ring_index, ring_wall in enumerate(ring_walls):
                    if len(ring_wall) >= 3:
                        rings.append((i, part_index, ring_index, ring_wall))
                        walls.extend(ring_wall)
        for i in neighbours:
            for part in _parts(footprints[i]):
                local = shapely.affinity.rotate(part, -orientation, origin=origin)
                walls.extend(_fixed_walls(local, step, i, 2 * options.tolerance_m))
        _snap_shared_walls(walls, options.tolerance_m)
        shells: dict[tuple[int, int], np.ndarray] = {}
        holes: dict[tuple[int, int], list[np.ndarray]] = {}
        for i, part_index, ring_index, ring_wall in rings:
            corners = _corners(ring_wall, step)
            if corners is None:
                continue
            if ring_index == 0:
                shells[(i, part_index)] = corners
            else:
                holes.setdefault((i, part_index), []).append(corners)
        for i in members:
            out_parts = []
            for part_index, part in enumerate(_parts(footprints[i])):
                key = (i, part_index)
                if key in kept or key not in shells:
                    out_parts.append(part)
                    continue
                local = _largest_valid(Polygon(shells[key], holes.get(key, [])))
                if local is None:
                    out_parts.append(part)
                    continue
                out_parts.append(shapely.affinity.rotate(local, orientation, origin=origin))
            geometry = out_parts[0] if len(out_parts) == 1 else MultiPolygon(out_parts)
            results[i] = RegularisedFootprint(
                geometry=geometry,
                iou=polygon_iou(geometry, footprints[i]),
                max_angle_deviation_deg=_max_deviation(geometry, orientation, step),
                orientation_deg=orientation,
                group=group,
            )
    return [r for r in results if r is not None]


# --- EPSG:4326 -------------------------------------------------------------------------


def metric_crs(footprints_4326: Sequence[shapely.Geometry], image_crs: CRS | None = None) -> CRS:
    """A CRS in metres for footprints given in EPSG:4326: ``image_crs`` when it is projected
    in metres, else the UTM zone (WGS84) of the footprints' centre."""
    if image_crs is not None and image_crs.is_projected:
        unit = image_crs.axis_info[0].unit_name if image_crs.axis_info else ""
        if unit in ("metre", "meter"):
            return image_crs
    centre = shapely.union_all(list(footprints_4326)).centroid
    lon = ((centre.x + 180) % 360) - 180
    zone = min(int((lon + 180) // 6) + 1, 60)
    return CRS.from_epsg((32600 if centre.y >= 0 else 32700) + zone)


def regularise_4326(
    footprints_4326: Sequence[shapely.Geometry],
    options: RegulariseOptions = RegulariseOptions(),
    image_crs: CRS | None = None,
    fixed_4326: Sequence[shapely.Geometry] = (),
) -> list[RegularisedFootprint]:
    """:func:`regularise_footprints` for footprints (and ``fixed_4326`` neighbours that stay
    as they are) in EPSG:4326 (lon, lat): the work is done in :func:`metric_crs`, the
    results (geometries) are EPSG:4326 again; IoU and angles are measured in the metric CRS."""
    if not footprints_4326:
        return []
    crs = metric_crs(footprints_4326, image_crs)
    forward = Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True)
    back = Transformer.from_crs(crs, CRS.from_epsg(4326), always_xy=True)

    def move(transformer: Transformer):
        return lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    metric = [shapely.transform(f, move(forward)) for f in footprints_4326]
    neighbours = [shapely.transform(f, move(forward)) for f in fixed_4326]
    results = regularise_footprints(metric, options, neighbours)
    return [
        RegularisedFootprint(
            geometry=shapely.transform(r.geometry, move(back)),
            iou=r.iou,
            max_angle_deviation_deg=r.max_angle_deviation_deg,
            orientation_deg=r.orientation_deg,
            group=r.group,
        )
        for r in results
    ]


# --- annotations -----------------------------------------------------------------------

MAX_ANNOTATIONS = 500


@dataclass(frozen=True)
class RegularisedAnnotation:
    """An annotation after :func:`regularise_annotations`: the row as saved and its figures."""

    annotation: Annotation
    footprint: RegularisedFootprint
    changed: bool


def image_metric_crs(image: Image) -> CRS | None:
    """The image's own CRS, when it has one (its EPSG code, else its WKT)."""
    if image.epsg:
        return CRS.from_epsg(image.epsg)
    return CRS.from_wkt(image.crs_wkt) if image.crs_wkt else None


def _neighbours(group: list[Annotation], shapes: list[shapely.Geometry], ids: set[int], tolerance_m: float) -> list:
    """The other live annotations (EPSG:4326 geometries) of the image of ``group`` with one
    of its label classes (a field around a house is no neighbour to snap to), near the
    bounding box of ``shapes``: the ones that touch stay as they are and the regularised
    ones snap onto their walls (:func:`regularise_footprints`, ``fixed``)."""
    classes = {a.label_class_id for a in group}
    same_class = Q(label_class_id__in=[c for c in classes if c is not None])
    if None in classes:
        same_class |= Q(label_class__isnull=True)
    west, south, east, north = shapely.union_all(shapes).bounds
    # Degrees of margin for the tolerance, generous (the exact test is in metres).
    margin = 2 * tolerance_m / (111_320 * max(math.cos(math.radians(max(abs(south), abs(north)))), 0.01))
    window = GEOSPolygon.from_bbox((west - margin, south - margin, east + margin, north + margin))
    window.srid = 4326
    rows = (
        Annotation.objects.live()
        .filter(same_class, image_id=group[0].image_id, geometry__intersects=window)
        .exclude(pk__in=ids)
        .values_list("geometry", flat=True)
    )
    return [shapely.from_wkb(bytes(geometry.wkb)) for geometry in rows]


def regularise_annotations(
    project: Project,
    user,
    items: Sequence[tuple[int, int | None]],
    options: RegulariseOptions = RegulariseOptions(),
) -> list[RegularisedAnnotation]:
    """Regularise the selected annotations and save each through the normal update path.

    All or nothing: every annotation must exist in ``project``, be editable by ``user``
    (:mod:`annotator.access`) and be at the version named (None: the current one), or
    nothing is written. The annotations of one image are regularised together, so the
    selected ones that touch keep touching, and one that touches an annotation left out of
    the selection moves its shared walls onto that one's (when it is regular already: a
    building regularised before); each changed one gets a new version.

    Args:
        items: (annotation id, version the caller saw or None), each id once, at most
            ``MAX_ANNOTATIONS``.

    Raises:
        InvalidInput: no ids, too many, or one named twice.
        NotFound: an id that is not a live annotation of the project.
        PermissionDenied, LockedForReview: the user may not edit one of them.
        StaleVersion: one has changed since the caller loaded it.
    """
    ids = [annotation_id for annotation_id, _version in items]
    if not ids:
        raise InvalidInput("Select at least one annotation to regularise.", field="annotations")
    if len(ids) > MAX_ANNOTATIONS:
        raise InvalidInput(f"Regularise at most {MAX_ANNOTATIONS} annotations at once.", field="annotations")
    if len(set(ids)) != len(ids):
        raise InvalidInput("An annotation is named twice.", field="annotations")
    access = Access.of(user, project)
    done: list[RegularisedAnnotation] = []
    with transaction.atomic():
        rows = {}
        for annotation_id, version in sorted(items):
            annotation = annotations.lock(annotation_id)
            if annotation.project_id != project.pk:
                raise NotFound("No such annotation.")
            access.check("edit", annotation)
            annotations.check_version(annotation, version, required=False)
            rows[annotation_id] = annotation
        by_image: dict[int, list[Annotation]] = {}
        for annotation_id in ids:
            by_image.setdefault(rows[annotation_id].image_id, []).append(rows[annotation_id])
        for group in by_image.values():
            image = group[0].image
            shapes = [shapely.from_wkb(bytes(a.geometry.wkb)) for a in group]
            neighbours = _neighbours(group, shapes, set(ids), options.tolerance_m)
            results = regularise_4326(shapes, options, image_metric_crs(image), neighbours)
            for annotation, result in zip(group, results, strict=True):
                saved = annotations.update_annotation(
                    annotation.pk,
                    user,
                    expected_version=annotation.version,
                    geometry=json.loads(shapely.to_geojson(result.geometry)),
                )
                done.append(RegularisedAnnotation(saved, result, saved.version != annotation.version))
    order = {annotation_id: i for i, annotation_id in enumerate(ids)}
    return sorted(done, key=lambda r: order[r.annotation.pk])
