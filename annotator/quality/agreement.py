"""Agreement between annotators, and consensus drafts fused from their polygons.

Everything is measured in metres: each image's annotations (stored in EPSG:4326) are
projected to the UTM zone of the image's footprint centre before any area or distance is
taken. A *comparison unit* is one image, or one assigned area when the caller names one;
on an image, a pair of annotators is compared only where both were asked to work: inside
the intersection of their assigned areas there (a polygon counts where its
``point_on_surface`` lies), or on the whole image for an annotator without areas on it.

For each pair of annotators in a unit, their polygons are matched one-to-one:

* candidates are the pairs whose IoU reaches ``iou_threshold`` (0.5 by default, as in
  CVAT), found with an STRtree and vectorised shapely intersections;
* within each connected group of candidates the Hungarian algorithm
  (``scipy.optimize.linear_sum_assignment``) on ``1 - IoU`` picks the most matches, then
  the highest total IoU.

Figures, per pair of annotators, per annotator (over all pairs they are in) and per class:

* **detection F1** = 2·matches / (polygons of one + polygons of the other). Per class, a
  polygon counts for its own class and a match counts when both sides carry that class.
* **polygons** and **matched**: per pair, both sides' polygons and the matched pairs; per
  annotator or class, the distinct polygons compared and those matched by someone else.
* **mean IoU** of the matched pairs.
* **median boundary distance (m)**: for one matched pair, ``BOUNDARY_SAMPLES`` points are
  placed at equal arc-length steps on each polygon's boundary (holes included); each point's
  distance to the *other* polygon's boundary is taken, and the pair's value is the median
  of those 2·``BOUNDARY_SAMPLES`` distances (symmetric). A group's figure is the median of
  its pairs' values. Two concentric squares 10 m and 12 m wide are 1 m apart.
* **label agreement**: the share of matched pairs, both labelled, with the same class; and
  **Krippendorff's alpha** for nominal data (the coincidence-matrix formula, Krippendorff 2011,
  "Computing Krippendorff's Alpha-Reliability") over the matched pairs (per pair of
  annotators) or over the clusters (overall). alpha is None when only one class occurs.

A *cluster* is a set of polygons linked by matches across annotators (the connected
components of all pairs' matches). A consensus draft fuses one cluster of two or more
annotators by pixel majority: the members are rasterised on a grid in metres (cell:
``max(CONSENSUS_MIN_CELL_M, cluster size / CONSENSUS_CELLS)``), cells covered by more than
half of the members are kept (sampled at cell centres), and the kept cells are polygonised
and simplified by ``SMOOTHING_CELLS`` cells to take out the grid's staircase. The result is
saved as a submitted annotation with source ``consensus``, the majority label and the
members and figures in ``provenance``. Requests make a :class:`~annotator.models.ConsensusRun`
row and a Job (kind ``consensus``, queue ``default``, :func:`start_consensus`); the runner
calls :func:`make_consensus_drafts`, which is also the synchronous way in.

Machine-made annotations (sources ``auto`` and ``consensus``) and deleted ones are never
compared; every other live annotation with an author is, whatever its review state.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pyproj
import rasterio.features
import shapely
from affine import Affine
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction
from django.utils import timezone

from annotator import access, jobs
from annotator.choices import JobKind
from annotator.errors import InvalidInput, NotFound, PermissionDenied
from annotator.models import (
    Annotation,
    AnnotationSource,
    AnnotationState,
    AnnotationVersion,
    AssignedArea,
    ConsensusRun,
    Image,
    Job,
    Project,
    VersionAction,
)
from annotator.workflow.annotations import clean_geometry, geodesic_area_m2, version_row

DEFAULT_IOU_THRESHOLD = 0.5
BOUNDARY_SAMPLES = 64
# The consensus grid: at least this fine (metres), and about this many cells across a cluster.
CONSENSUS_MIN_CELL_M = 0.1
CONSENSUS_CELLS = 200
# Douglas-Peucker tolerance, in cells, that takes the grid's staircase out of a fused outline:
# on rotated 20 x 12 m rectangles (3 members, 0.3 m apart) it leaves 8 vertices instead of 300,
# 0.14 m (1.2 cells) from the exact vector majority; half a cell left 0.09 m and 300 vertices.
SMOOTHING_CELLS = 1.5
# Sources whose annotations a machine made: they are no annotator's opinion.
MACHINE_SOURCES = (AnnotationSource.AUTO, AnnotationSource.CONSENSUS)


# --- data ------------------------------------------------------------------------------


@dataclass
class Outlines:
    """One annotator's polygons in one comparison unit.

    ``geometries`` are shapely (Multi)Polygons in the unit's metric CRS (metres), one per
    annotation; ``ids`` the annotations' ids; ``labels`` their class names (None: no class).
    """

    ids: np.ndarray
    geometries: np.ndarray
    labels: np.ndarray
    label_ids: np.ndarray | None = None

    @classmethod
    def of(cls, ids: Sequence[int], geometries: Sequence, labels: Sequence[str | None]) -> Outlines:
        return cls(
            np.asarray(ids, dtype=np.int64),
            np.asarray(geometries, dtype=object),
            np.asarray(labels, dtype=object),
        )

    def subset(self, keep: np.ndarray) -> Outlines:
        return Outlines(
            self.ids[keep],
            self.geometries[keep],
            self.labels[keep],
            None if self.label_ids is None else self.label_ids[keep],
        )

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Unit:
    """One image or assigned area: each annotator's polygons and, optionally, the region
    (shapely, same metric CRS) they were asked to annotate there (None: all of it)."""

    key: str
    crs: pyproj.CRS
    outlines: dict[str, Outlines]
    regions: dict[str, Any] = field(default_factory=dict)
    image_id: int | None = None


@dataclass(frozen=True)
class Matches:
    """One-to-one matches between two sets: indices into each, their IoU and boundary distance (m)."""

    a: np.ndarray
    b: np.ndarray
    iou: np.ndarray
    boundary_m: np.ndarray


@dataclass
class Tally:
    """Counts behind one row of figures (a pair, an annotator or a class).

    ``polygons`` and ``matched`` add up both sides of every pair compared (F1 is their
    ratio); an annotator's or a class's row also keeps the distinct polygons it holds
    (``own``) and those matched by at least one other annotator (``own_matched``), which is
    what a person counts.
    """

    polygons: int = 0
    matched: int = 0
    own: set[int] | None = None
    own_matched: set[int] = field(default_factory=set)
    ious: list[np.ndarray] = field(default_factory=list)
    boundaries: list[np.ndarray] = field(default_factory=list)
    label_pairs: list[tuple[str | None, str | None]] = field(default_factory=list)

    def add(self, polygons: int, matches: Matches, labels_a: np.ndarray, labels_b: np.ndarray) -> None:
        self.polygons += polygons
        self.matched += len(matches.a)
        self.ious.append(matches.iou)
        self.boundaries.append(matches.boundary_m)
        self.label_pairs.extend(zip(labels_a, labels_b, strict=True))

    def add_own(self, ids: Iterable[int], matched_ids: Iterable[int]) -> None:
        """Count ``ids`` as this row's polygons, ``matched_ids`` among them as matched."""
        self.own = (self.own or set()) | {int(i) for i in ids}
        self.own_matched |= {int(i) for i in matched_ids}

    def figures(self, *, with_alpha: bool) -> dict[str, Any]:
        ious = np.concatenate(self.ious) if self.ious else np.empty(0)
        boundaries = np.concatenate(self.boundaries) if self.boundaries else np.empty(0)
        labelled = [(x, y) for x, y in self.label_pairs if x is not None and y is not None]
        distinct = self.own is not None
        figures = {
            "polygons": len(self.own) if distinct else self.polygons,
            "matched": len(self.own_matched) if distinct else self.matched,
            # Each match pairs two polygons, so 2·matches over all polygons of both sides.
            "f1": _rounded(2 * self.matched / self.polygons) if self.polygons else None,
            "mean_iou": _rounded(float(ious.mean())) if len(ious) else None,
            "median_boundary_m": _rounded(float(np.median(boundaries))) if len(boundaries) else None,
            "label_agreement": _rounded(sum(x == y for x, y in labelled) / len(labelled)) if labelled else None,
        }
        if with_alpha:
            alpha = krippendorff_alpha_nominal([list(p) for p in labelled])
            figures["label_alpha"] = None if alpha is None else _rounded(alpha)
        return figures


@dataclass
class Cluster:
    """Polygons of two or more annotators linked by matches in one unit (metres)."""

    unit: Unit
    members: list[tuple[str, int]]  # (annotator, index into that annotator's outlines)

    @property
    def annotators(self) -> list[str]:
        return sorted({name for name, _ in self.members})

    def outline(self, name: str, index: int) -> tuple[int, Any, str | None]:
        found = self.unit.outlines[name]
        return int(found.ids[index]), found.geometries[index], found.labels[index]


@dataclass
class Agreement:
    """The figures of a comparison, and the clusters a consensus fuses."""

    iou_threshold: float
    pairs: dict[tuple[str, str], Tally]
    annotators: dict[str, Tally]
    classes: dict[str | None, Tally]
    clusters: list[Cluster]

    def as_dict(self) -> dict[str, Any]:
        units = [
            [label for _name, label in (self._label(c, m) for m in c.members) if label is not None]
            for c in self.clusters
        ]
        alpha = krippendorff_alpha_nominal(units)
        return {
            "iou_threshold": self.iou_threshold,
            "overall": {
                "clusters": len(self.clusters),
                "label_alpha": None if alpha is None else _rounded(alpha),
            },
            "pairs": [
                {"annotators": list(names), **tally.figures(with_alpha=True)}
                for names, tally in sorted(self.pairs.items())
            ],
            "annotators": [
                {"annotator": name, **tally.figures(with_alpha=False)}
                for name, tally in sorted(self.annotators.items())
            ],
            "classes": [
                {
                    "label_class": name,
                    **{k: v for k, v in tally.figures(with_alpha=False).items() if k != "label_agreement"},
                }
                for name, tally in sorted(self.classes.items(), key=lambda item: (item[0] is None, item[0] or ""))
            ],
        }

    @staticmethod
    def _label(cluster: Cluster, member: tuple[str, int]) -> tuple[str, str | None]:
        name, index = member
        return name, cluster.unit.outlines[name].labels[index]


def _rounded(x: float) -> float:
    return round(float(x), 4)


# --- matching --------------------------------------------------------------------------


def iou_candidates(a: np.ndarray, b: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of polygons (metres, one CRS) whose IoU reaches ``threshold``.

    Args:
        a, b: arrays of shapely (Multi)Polygons.
        threshold: the least IoU, in (0, 1].

    Returns:
        ``(ia, ib, iou)``: indices into ``a`` and ``b`` and the pairs' IoU, shape [k] each.
    """
    if len(a) == 0 or len(b) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    ia, ib = shapely.STRtree(b).query(a, predicate="intersects")
    inter = shapely.area(shapely.intersection(a[ia], b[ib]))
    union = shapely.area(a[ia]) + shapely.area(b[ib]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    keep = iou >= threshold
    return ia[keep], ib[keep], iou[keep]


def match(a: np.ndarray, b: np.ndarray, threshold: float = DEFAULT_IOU_THRESHOLD) -> Matches:
    """Match two annotators' polygons (metres, one CRS) one-to-one.

    Among candidates with IoU ≥ ``threshold``, each connected group is solved by the
    Hungarian algorithm on ``1 - IoU``, non-candidates forbidden: the most matches, then the
    highest total IoU. Groups of one polygon on each side (most of them) need no solving.

    Returns:
        The matches, with each one's median boundary distance in metres.
    """
    ia, ib, iou = iou_candidates(a, b, threshold)
    if len(ia) == 0:
        empty = np.empty(0, np.int64)
        return Matches(empty, empty, np.empty(0), np.empty(0))
    # Imported here: scipy's optimize and sparse packages (~35 MiB resident) are worker work,
    # and every web process imports this module for its defaults.
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    na, nb = len(a), len(b)
    graph = coo_matrix((np.ones(len(ia)), (ia, na + ib)), shape=(na + nb, na + nb))
    _count, component = connected_components(graph, directed=False)
    edge_component = component[ia]
    sizes = np.bincount(edge_component, minlength=_count)
    single = sizes[edge_component] == 1  # a component with one edge is one a and one b
    keep_a, keep_b, keep_iou = [ia[single]], [ib[single]], [iou[single]]
    order = np.argsort(edge_component[~single], kind="stable")
    rest_c = edge_component[~single][order]
    rest_a, rest_b, rest_iou = ia[~single][order], ib[~single][order], iou[~single][order]
    bounds = np.flatnonzero(np.diff(rest_c)) + 1
    for sa, sb, siou in zip(
        np.split(rest_a, bounds), np.split(rest_b, bounds), np.split(rest_iou, bounds), strict=True
    ):
        if len(sa) == 0:
            continue
        rows, row_of = np.unique(sa, return_inverse=True)
        cols, col_of = np.unique(sb, return_inverse=True)
        forbidden = min(len(rows), len(cols)) + 1.0  # dearer than any set of allowed matches
        cost = np.full((len(rows), len(cols)), forbidden)
        cost[row_of, col_of] = 1.0 - siou
        r, c = linear_sum_assignment(cost)
        allowed = cost[r, c] < forbidden
        keep_a.append(rows[r[allowed]])
        keep_b.append(cols[c[allowed]])
        keep_iou.append(1.0 - cost[r[allowed], c[allowed]])
    ma, mb, miou = np.concatenate(keep_a), np.concatenate(keep_b), np.concatenate(keep_iou)
    return Matches(ma, mb, miou, boundary_distance_m(a[ma], b[mb]))


def boundary_distance_m(a: np.ndarray, b: np.ndarray, samples: int = BOUNDARY_SAMPLES) -> np.ndarray:
    """Symmetric median boundary distance of paired polygons (metres, one CRS).

    Args:
        a, b: arrays of shapely (Multi)Polygons, shape [n] each, ``a[i]`` paired with ``b[i]``.
        samples: points per boundary, at equal arc-length steps (holes included).

    Returns:
        Shape [n]: per pair, the median over the 2·``samples`` distances from each
        boundary's points to the other boundary, in metres.
    """
    n = len(a)
    if n == 0:
        return np.empty(0)
    steps = np.tile((np.arange(samples) + 0.5) / samples, n)
    edges_a, edges_b = shapely.boundary(a), shapely.boundary(b)
    points_a = shapely.line_interpolate_point(np.repeat(edges_a, samples), steps, normalized=True)
    points_b = shapely.line_interpolate_point(np.repeat(edges_b, samples), steps, normalized=True)
    to_b = shapely.distance(points_a, np.repeat(edges_b, samples)).reshape(n, samples)
    to_a = shapely.distance(points_b, np.repeat(edges_a, samples)).reshape(n, samples)
    return np.median(np.hstack([to_b, to_a]), axis=1)


def krippendorff_alpha_nominal(units: Iterable[Sequence[Any]]) -> float | None:
    """Krippendorff's alpha for nominal values.

    Args:
        units: per unit, the values its coders gave (missing values left out); units with
            fewer than two values are not pairable and are ignored.

    Returns:
        alpha = 1 - (n - 1)·Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k, from the coincidence matrix
        o_ck = Σ_u (number of c-k pairs of coders in u) / (m_u - 1); None when fewer than two
        pairable values or a single value occurs (no expected disagreement).
    """
    coincidence: Counter[tuple[Any, Any]] = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                if pairs:
                    coincidence[c, k] += pairs / (m - 1)
    totals: Counter[Any] = Counter()
    for (c, _k), o in coincidence.items():
        totals[c] += o
    n = sum(totals.values())
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if n < 2 or expected == 0:
        return None
    observed = sum(o for (c, k), o in coincidence.items() if c != k)
    return 1.0 - (n - 1) * observed / expected


# --- comparing units -------------------------------------------------------------------


def _within(outlines: Outlines, region) -> Outlines:
    if region is None:
        return outlines
    points = shapely.point_on_surface(outlines.geometries)
    shapely.prepare(region)
    return outlines.subset(shapely.contains(region, points))


def _region_of(unit: Unit, first: str, second: str):
    regions = [unit.regions.get(name) for name in (first, second)]
    regions = [r for r in regions if r is not None]
    if not regions:
        return None
    return regions[0] if len(regions) == 1 else shapely.intersection(regions[0], regions[1])


def compare(units: Iterable[Unit], iou_threshold: float = DEFAULT_IOU_THRESHOLD) -> Agreement:
    """Match every pair of annotators in each unit and gather the figures and clusters.

    Args:
        units: comparison units, geometries in metres.
        iou_threshold: the least IoU of a match, in (0, 1].
    """
    if not 0 < iou_threshold <= 1:
        raise InvalidInput("The IoU threshold must be above 0 and at most 1.", field="iou")
    pairs: dict[tuple[str, str], Tally] = defaultdict(Tally)
    annotators: dict[str, Tally] = defaultdict(Tally)
    classes: dict[str | None, Tally] = defaultdict(Tally)
    clusters: list[Cluster] = []
    for unit in units:
        names = sorted(n for n, o in unit.outlines.items() if len(o))
        parent: dict[tuple[str, int], tuple[str, int]] = {}

        def root(node: tuple[str, int], parent=parent) -> tuple[str, int]:
            while parent.setdefault(node, node) != node:
                parent[node] = parent[parent[node]]
                node = parent[node]
            return node

        for first, second in combinations(names, 2):
            region = _region_of(unit, first, second)
            if region is not None and shapely.is_empty(region):
                continue
            a, b = _within(unit.outlines[first], region), _within(unit.outlines[second], region)
            found = match(a.geometries, b.geometries, iou_threshold)
            labels_a, labels_b = a.labels[found.a], b.labels[found.b]
            pairs[first, second].add(len(a) + len(b), found, labels_a, labels_b)
            annotators[first].add(len(a) + len(b), found, labels_a, labels_b)
            annotators[second].add(len(a) + len(b), found, labels_a, labels_b)
            annotators[first].add_own(a.ids, a.ids[found.a])
            annotators[second].add_own(b.ids, b.ids[found.b])
            _tally_classes(classes, a, b, found)
            # Union-find across pairs, on the annotators' own indices (not the region's subset).
            index_a = {int(i): k for k, i in enumerate(unit.outlines[first].ids)}
            index_b = {int(i): k for k, i in enumerate(unit.outlines[second].ids)}
            for ida, idb in zip(a.ids[found.a], b.ids[found.b], strict=True):
                parent[root((first, index_a[int(ida)]))] = root((second, index_b[int(idb)]))
        groups: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
        for node in list(parent):
            groups[root(node)].append(node)
        clusters.extend(Cluster(unit, sorted(members)) for members in groups.values() if len(members) > 1)
    return Agreement(iou_threshold, dict(pairs), dict(annotators), dict(classes), clusters)


def _tally_classes(classes: dict[str | None, Tally], a: Outlines, b: Outlines, found: Matches) -> None:
    labels_a, labels_b = a.labels[found.a], b.labels[found.b]
    same = np.array([x == y for x, y in zip(labels_a, labels_b, strict=True)], dtype=bool)
    every = Counter(list(a.labels) + list(b.labels))
    for label, count in every.items():
        picked = same & np.array([x == label for x in labels_a], dtype=bool)
        chosen = Matches(found.a[picked], found.b[picked], found.iou[picked], found.boundary_m[picked])
        classes[label].add(count, chosen, labels_a[picked], labels_b[picked])
        own = [i for i, x in zip(a.ids, a.labels, strict=True) if x == label]
        own += [i for i, x in zip(b.ids, b.labels, strict=True) if x == label]
        classes[label].add_own(own, list(a.ids[chosen.a]) + list(b.ids[chosen.b]))


# --- the database ----------------------------------------------------------------------


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The WGS84 UTM zone (metres) of a point in EPSG:4326 (longitudes in any 360° frame)."""
    lon = (lon + 180.0) % 360.0 - 180.0
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _to_metres(geometries: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    forward = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    return shapely.transform(geometries, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))


def _from_metres(geometry, crs: pyproj.CRS):
    back = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def _wkb(geometry: GEOSGeometry):
    return shapely.from_wkb(bytes(geometry.wkb))


def load_units(project: Project, *, image_id: int | None = None, area: AssignedArea | None = None) -> list[Unit]:
    """The project's comparison units: one per image, or the one area, in each image's UTM zone (m).

    Args:
        project: the project.
        image_id: only this image (EPSG:4326 annotations of it).
        area: only annotations of its image whose ``point_on_surface`` lies in it; the area
            is then everyone's region.
    """
    rows = Annotation.objects.live().filter(project=project, author__isnull=False).exclude(source__in=MACHINE_SOURCES)
    if area is not None:
        image_id = area.image_id
    if image_id is not None:
        rows = rows.filter(image_id=image_id)
    found = list(
        rows.select_related("image")
        .order_by("id")
        .values_list("id", "image_id", "author__username", "label_class_id", "label_class__name", "geometry")
    )
    by_image: dict[int, list[tuple]] = defaultdict(list)
    for row in found:
        by_image[row[1]].append(row)
    areas: dict[tuple[int, str], list] = defaultdict(list)
    if area is None:
        assigned = AssignedArea.objects.filter(project=project, image_id__in=list(by_image), assignee__isnull=False)
        for image, name, geometry in assigned.values_list("image_id", "assignee__username", "geometry"):
            areas[image, name].append(_wkb(geometry))
    footprints = {
        pk: _wkb(footprint)
        for pk, footprint in Image.objects.filter(pk__in=list(by_image), footprint__isnull=False).values_list(
            "pk", "footprint"
        )
    }
    units = []
    for image, image_rows in sorted(by_image.items()):
        geometries = shapely.from_wkb([bytes(r[5].wkb) for r in image_rows])
        around = footprints.get(image) or shapely.union_all(shapely.envelope(geometries))
        lon, lat = shapely.get_coordinates(shapely.centroid(around))[0]
        crs = utm_crs(lon, lat)
        metric = _to_metres(geometries, crs)
        outlines: dict[str, Outlines] = {}
        for name in sorted({r[2] for r in image_rows}):
            picked = np.array([r[2] == name for r in image_rows])
            chosen = [r for r in image_rows if r[2] == name]
            found_outlines = Outlines.of([r[0] for r in chosen], metric[picked], [r[4] for r in chosen])
            found_outlines.label_ids = np.asarray([r[3] for r in chosen], dtype=object)
            outlines[name] = found_outlines
        if area is not None:
            region = _to_metres(np.array([_wkb(area.geometry)]), crs)[0]
            outlines = {name: _within(o, region) for name, o in outlines.items()}
            units.append(Unit(f"area {area.pk}", crs, outlines, {}, image))
            continue
        regions = {
            name: _to_metres(np.array([shapely.union_all(areas[image, name])]), crs)[0]
            for name in outlines
            if areas.get((image, name))
        }
        units.append(Unit(f"image {image}", crs, outlines, regions, image))
    return units


def project_agreement(
    project: Project,
    *,
    image_id: int | None = None,
    area: AssignedArea | None = None,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> dict[str, Any]:
    """Agreement figures of a project, an image or an area (see the module's docstring)."""
    units = load_units(project, image_id=image_id, area=area)
    figures = compare(units, iou_threshold).as_dict()
    figures["scope"] = {
        "project": project.pk,
        "image": image_id if area is None else area.image_id,
        "area": area and area.pk,
    }
    return figures


# --- consensus -------------------------------------------------------------------------


def fuse(geometries: Sequence, *, min_cell_m: float = CONSENSUS_MIN_CELL_M, cells: int = CONSENSUS_CELLS):
    """The pixel-majority polygon of several polygons (metres, one CRS).

    Args:
        geometries: the members, shapely (Multi)Polygons in metres.
        min_cell_m: the finest grid cell, metres.
        cells: about how many cells span the members' larger side.

    Returns:
        ``(polygon, cell_m)``: the cells (sampled at their centres) inside more than half of
        the members, polygonised and simplified (Douglas-Peucker) by ``SMOOTHING_CELLS``
        cells (a shapely geometry in metres, empty when no cell has a majority), and the
        cell size used in metres.
    """
    west, south, east, north = shapely.total_bounds(np.asarray(geometries, dtype=object))
    cell = max(min_cell_m, max(east - west, north - south) / cells)
    width, height = math.ceil((east - west) / cell) + 2, math.ceil((north - south) / cell) + 2
    transform = Affine(cell, 0.0, west - cell, 0.0, -cell, north + cell)
    votes = rasterio.features.rasterize(
        [(geometry, 1) for geometry in geometries],
        out_shape=(height, width),
        transform=transform,
        dtype=np.uint16,
        merge_alg=rasterio.features.MergeAlg.add,
    )
    majority = (votes.astype(np.int32) * 2 > len(geometries)).astype(np.uint8)
    parts = [
        shapely.geometry.shape(s) for s, v in rasterio.features.shapes(majority, majority, transform=transform) if v
    ]
    if not parts:
        return shapely.Polygon(), cell
    fused = shapely.union_all(parts).simplify(cell * SMOOTHING_CELLS, preserve_topology=True)
    return shapely.make_valid(fused), cell


@dataclass
class ConsensusOutcome:
    """What one run made: the new drafts, how many untouched ones it replaced, how many
    clusters it found, and how many of those it left to an edited or reviewed consensus."""

    created: list[Annotation]
    replaced: int
    clusters: int
    kept: int = 0


class ConsensusCancelled(Exception):
    """The run's job was cancelled (or taken by another run): nothing was written."""


# A callback told the share done (0 to 1) and a sentence; False stops the run (cancelled).
Progress = Callable[[float, str], bool]
# Progress reports at most this often (seconds) while fusing: one UPDATE each.
PROGRESS_EVERY_S = 0.5


@dataclass
class _Fused:
    """One cluster's consensus outline (EPSG:4326, cleaned) and what its provenance records."""

    members: list[int]
    geometry: GEOSGeometry
    label_id: int | None
    provenance: dict[str, Any]


def _majority_label(labels: Sequence[tuple[int | None, str | None]]) -> tuple[int | None, dict[str, int]]:
    votes = Counter(label for label in labels if label[0] is not None)
    ranked = votes.most_common()
    tied = len(ranked) > 1 and ranked[0][1] == ranked[1][1]
    chosen = None if not ranked or tied else ranked[0][0][0]  # a tie is the reviewer's call
    return chosen, {name: count for (_id, name), count in ranked}


def untouched_consensus(area: AssignedArea):
    """Consensus drafts of the area that nobody edited or reviewed since they were made."""
    return Annotation.objects.live().filter(
        project_id=area.project_id,
        source=AnnotationSource.CONSENSUS,
        provenance__area=area.pk,
        state=AnnotationState.SUBMITTED,
        version=2,  # created, then submitted: any edit or review adds a version
        reviewed_at__isnull=True,
    )


def _settled_members(area: AssignedArea) -> set[int]:
    """Annotations that an edited or reviewed consensus annotation of the area already holds."""
    untouched = untouched_consensus(area).values("pk")
    return {
        int(member)
        for provenance in Annotation.objects.live()
        .filter(project_id=area.project_id, source=AnnotationSource.CONSENSUS, provenance__area=area.pk)
        .exclude(pk__in=untouched)
        .values_list("provenance", flat=True)
        for member in provenance.get("members", [])
    }


def _fuse_cluster(cluster: Cluster, area: AssignedArea, iou_threshold: float) -> _Fused | None:
    """The consensus of one cluster, or None when the majority is empty or falls outside the image."""
    members = [cluster.outline(name, index) for name, index in cluster.members]
    geometries = [geometry for _id, geometry, _label in members]
    fused, cell = fuse(geometries)
    if fused.is_empty:
        return None
    outline = _from_metres(fused, cluster.unit.crs)
    try:
        clean = clean_geometry(GEOSGeometry(memoryview(shapely.to_wkb(outline)), srid=4326), area.image, repair=True)
    except InvalidInput:
        return None  # the fused shape fell outside the image
    label_id, votes = _majority_label(
        [
            (cluster.unit.outlines[name].label_ids[index], cluster.unit.outlines[name].labels[index])
            for name, index in cluster.members
        ]
    )
    member_ids = [member_id for member_id, _g, _l in members]
    return _Fused(
        member_ids,
        clean,
        label_id,
        {
            "kind": "consensus",
            "area": area.pk,
            "members": member_ids,
            "annotators": cluster.annotators,
            "member_count": len(members),
            "mean_iou": _rounded(_member_ious(geometries)),
            "label_votes": votes,
            "iou_threshold": iou_threshold,
            "cell_m": _rounded(cell),
        },
    )


def make_consensus_drafts(
    area: AssignedArea,
    user,
    *,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    progress: Progress | None = None,
    before_commit: Callable[[ConsensusOutcome], bool] | None = None,
) -> ConsensusOutcome:
    """Fuse each cluster of two or more annotators in ``area`` into a submitted consensus annotation.

    The user (a reviewer or an owner) becomes its author; it enters the review queue.
    Untouched consensus drafts of the area made before are deleted; edited or reviewed
    ones stay, and a cluster with a member in one of those is left alone (a reviewer has
    dealt with that object).

    The comparison and the fusing (the slow part) run outside any transaction, reporting
    to ``progress``; the writes happen in one short transaction that holds the area's row
    (so two runs of one area take turns), and ``before_commit`` (the job runner's: record
    the figures, mark the job done) runs inside it: when either says False, everything is
    rolled back and ConsensusCancelled is raised.

    Raises:
        PermissionDenied: the user may not make consensus drafts.
        InvalidInput: a bad IoU threshold.
        ConsensusCancelled: ``progress`` or ``before_commit`` said stop; nothing was written.
    """
    access.check(access.consensus_refusal(access.role_of(user, area.project_id)))

    def report(share: float, message: str) -> None:
        if progress is not None and not progress(share, message):
            raise ConsensusCancelled(message)

    report(0.0, "comparing the annotators' polygons")
    units = load_units(area.project, area=area)
    agreement = compare(units, iou_threshold)
    shared = [cluster for cluster in agreement.clusters if len(cluster.annotators) >= 2]
    settled = _settled_members(area)
    fused_clusters: list[_Fused] = []
    member_sets: list[set[int]] = []
    last_report = time.monotonic()
    report(0.1, f"fusing {len(shared)} objects drawn by two or more annotators")
    for i, cluster in enumerate(shared):
        members = {cluster.outline(name, index)[0] for name, index in cluster.members}
        member_sets.append(members)
        if not settled.intersection(members):
            found = _fuse_cluster(cluster, area, iou_threshold)
            if found is not None:
                fused_clusters.append(found)
        if time.monotonic() - last_report >= PROGRESS_EVERY_S:
            report(0.1 + 0.85 * (i + 1) / len(shared), f"{i + 1} of {len(shared)} objects fused")
            last_report = time.monotonic()
    image = area.image
    with transaction.atomic():
        AssignedArea.objects.select_for_update().filter(pk=area.pk).first()
        report(0.95, f"saving {len(fused_clusters)} consensus drafts")
        now = timezone.now()
        olds = list(untouched_consensus(area).select_for_update())
        for old in olds:
            old.deleted_at = old.updated_at = now
            old.version += 1
        Annotation.objects.bulk_update(olds, ["deleted_at", "version", "updated_at"], batch_size=500)
        AnnotationVersion.objects.bulk_create([version_row(old, VersionAction.DELETED, user) for old in olds])
        replaced = len(olds)
        # Asked again under the lock: a reviewer may have decided on a draft meanwhile.
        settled = _settled_members(area)
        kept = sum(1 for members in member_sets if settled.intersection(members))
        # Written in bulk (two INSERTs in all): each draft as submitted (version 2), with the
        # version rows of its creation (version 1, a draft) and of its submission.
        created = [
            Annotation(
                project_id=area.project_id,
                image=image,
                label_class_id=found.label_id,
                author=user,
                geometry=found.geometry,
                area_m2=geodesic_area_m2(found.geometry),
                source=AnnotationSource.CONSENSUS,
                provenance=found.provenance,
                state=AnnotationState.SUBMITTED,
                submitted_at=now,
                version=2,
            )
            for found in fused_clusters
            if not settled.intersection(found.members)
        ]
        Annotation.objects.bulk_create(created, batch_size=500)
        versions = []
        for annotation in created:
            made = version_row(annotation, VersionAction.CREATED, user)
            made.version, made.state = 1, AnnotationState.DRAFT
            versions += [made, version_row(annotation, VersionAction.SUBMITTED, user)]
        AnnotationVersion.objects.bulk_create(versions, batch_size=1000)
        outcome = ConsensusOutcome(created, replaced, len(agreement.clusters), kept)
        if before_commit is not None and not before_commit(outcome):
            raise ConsensusCancelled("the job no longer runs here")
    return outcome


def _member_ious(geometries: Sequence) -> float:
    """Mean IoU over every pair of a cluster's members (metres)."""
    values = [
        shapely.area(shapely.intersection(x, y)) / shapely.area(shapely.union(x, y))
        for x, y in combinations(geometries, 2)
    ]
    return float(np.mean(values))


# --- consensus as a background job -----------------------------------------------------


def start_consensus(area: AssignedArea, user, *, iou_threshold: float = DEFAULT_IOU_THRESHOLD) -> ConsensusRun:
    """A reviewer or an owner asks for consensus drafts of ``area``: a ConsensusRun row and its Job.

    The job (kind ``consensus``, queue ``default``) runs :func:`make_consensus_drafts` on a
    worker; the row gets its figures when the job succeeds.

    Raises:
        PermissionDenied: the user may not make consensus drafts.
    """
    access.check(access.consensus_refusal(access.role_of(user, area.project_id)))
    with transaction.atomic():
        run = ConsensusRun.objects.create(
            project_id=area.project_id, area=area, created_by=user, iou_threshold=iou_threshold
        )
        run.job = jobs.enqueue(JobKind.CONSENSUS, area.project, run, user)
        run.save(update_fields=["job"])
    return run


def _outcome_sentence(run: ConsensusRun) -> str:
    made = len(run.created)
    parts = [f"{made} consensus draft{'' if made == 1 else 's'} sent for review"]
    if run.replaced:
        parts.append(f"{run.replaced} untouched earlier draft{'' if run.replaced == 1 else 's'} replaced")
    if run.kept:
        parts.append(f"{run.kept} already reviewed or edited, left alone")
    return "; ".join(parts)


@jobs.register(JobKind.CONSENSUS)
def run_consensus_job(job: Job) -> str:
    """Runner of ``consensus`` jobs: the drafts, the run's figures and the job's success commit together.

    A cancel stops it at its next progress report and nothing is written; a failure rolls
    the writes back.
    """
    run = ConsensusRun.objects.select_related("area__image", "area__project", "created_by").get(pk=job.target_id)
    if run.area is None:
        raise NotFound("The area was deleted before its consensus run started.")
    if run.created_by is None:
        raise PermissionDenied("The account that asked for this consensus run no longer exists.")

    def record(outcome: ConsensusOutcome) -> bool:
        run.created = [a.pk for a in outcome.created]
        run.replaced, run.clusters, run.kept = outcome.replaced, outcome.clusters, outcome.kept
        run.finished_at = timezone.now()
        run.save(update_fields=["created", "replaced", "clusters", "kept", "finished_at"])
        return job.mark_succeeded(_outcome_sentence(run))

    try:
        make_consensus_drafts(
            run.area,
            run.created_by,
            iou_threshold=run.iou_threshold,
            progress=job.set_progress,
            before_commit=record,
        )
    except ConsensusCancelled:
        return "cancelled"
    return _outcome_sentence(run)
