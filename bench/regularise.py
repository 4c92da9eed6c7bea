"""Benchmark (not a test): building regularisation of 1,000 traced footprints in rows.

Synthetic terraces in metres (a projected CRS): ``rows`` rows of ``per_row`` 8 x 12 m houses
that share their side walls, each row turned by its own angle, 200 m apart; every outline is
traced with a vertex every 0.5 m moved by Gaussian noise (standard deviation 0.15 m), as
a hand or a SAM2 outline wobbles. Times :func:`annotator.quality.regularise.regularise_footprints`
(default options: right angles, tolerance 0.5 m) in one process, and checks the result
against the noise-free truth:

- seams: pairs of houses that shared a wall with a gap or an overlap wider than 0.1 m along it
  (the goal: none);
- IoU of each result with its truth (min and mean);
- the same seams when each house is regularised alone by the library
  (``buildingregulariser``, no group step), for comparison.

Prints the figures and, as the last line, one JSON object.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/regularise.py [--rows 50] [--per-row 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")

HOUSE_M = (8.0, 12.0)
ROW_SPACING_M = 200.0
NOISE_M = 0.15
SPACING_M = 0.5


def terraces(rng, rows: int, per_row: int):
    import shapely.affinity
    from shapely.geometry import box

    truths = []
    for r in range(rows):
        angle = rng.uniform(0, 90)
        centre = (per_row * HOUSE_M[0] / 2, r * ROW_SPACING_M + HOUSE_M[1] / 2)
        for h in range(per_row):
            house = box(h * HOUSE_M[0], r * ROW_SPACING_M, (h + 1) * HOUSE_M[0], r * ROW_SPACING_M + HOUSE_M[1])
            truths.append(shapely.affinity.rotate(house, angle, origin=centre))
    return truths


def traced(rng, truth):
    import numpy as np
    from shapely.geometry import Polygon

    xy = np.asarray(truth.exterior.segmentize(SPACING_M).coords)[:-1]
    return Polygon(xy + rng.normal(0.0, NOISE_M, xy.shape)).buffer(0)


def bad_seams(results, truths, rows: int, per_row: int) -> int:
    """Neighbours in a row whose shared wall has a gap or an overlap wider than 0.1 m."""
    import shapely

    bad = 0
    for r in range(rows):
        for h in range(per_row - 1):
            i = r * per_row + h
            a, b, ta, tb = results[i], results[i + 1], truths[i], truths[i + 1]
            wall = ta.boundary.intersection(tb.boundary)
            seam = wall.buffer(0.5).difference(shapely.union(ta, tb).exterior.buffer(1.0))
            gap = seam.difference(shapely.union(a, b))
            overlap = seam.intersection(a).intersection(b)
            bad += int(not gap.buffer(-0.05).is_empty or not overlap.buffer(-0.05).is_empty)
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--per-row", type=int, default=20)
    args = parser.parse_args()

    import django

    django.setup()
    import numpy as np
    import shapely
    from buildingregulariser.regularization import regularize_single_polygon

    from annotator.quality.regularise import regularise_footprints

    rng = np.random.default_rng(0)
    truths = terraces(rng, args.rows, args.per_row)
    inputs = [traced(rng, t) for t in truths]
    started = time.perf_counter()
    results = regularise_footprints(inputs)
    seconds = time.perf_counter() - started
    geometries = [r.geometry for r in results]
    ious = [shapely.intersection(g, t).area / shapely.union(g, t).area for g, t in zip(geometries, truths, strict=True)]
    seams = (args.per_row - 1) * args.rows
    bad = bad_seams(geometries, truths, args.rows, args.per_row)
    # The library alone, in its 45° mode with a diagonal zone of width 0 (right angles; its
    # 90° mode turns edges that run against the orientation, see annotator/quality/regularise.py).
    alone = [regularize_single_polygon(p, 1.0, True, 22.5, False, 0.9, True, 0.5)[0]["geometry"] for p in inputs]
    bad_alone = bad_seams(alone, truths, args.rows, args.per_row)
    figures = {
        "footprints": len(inputs),
        "vertices_per_input": round(float(np.mean([len(p.exterior.coords) for p in inputs])), 1),
        "seconds": round(seconds, 3),
        "ms_per_footprint": round(1000 * seconds / len(inputs), 2),
        "groups": len({r.group for r in results}),
        "bad_seams": bad,
        "bad_seams_library_alone": bad_alone,
        "seams": seams,
        "iou_min": round(min(ious), 3),
        "iou_mean": round(float(np.mean(ious)), 3),
        "max_angle_deviation_deg": max(r.max_angle_deviation_deg for r in results),
    }
    print(
        f"{figures['footprints']} footprints ({figures['vertices_per_input']} vertices each) in "
        f"{figures['seconds']} s ({figures['ms_per_footprint']} ms each), {figures['groups']} groups"
    )
    print(f"seams with a gap or overlap over 0.1 m: {bad} of {seams} (each house alone: {bad_alone})")
    print(f"IoU with the truth: min {figures['iou_min']}, mean {figures['iou_mean']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
