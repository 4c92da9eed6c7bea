"""Benchmark (not a test): annotator agreement on 1,000 polygons by each of 3 annotators.

Synthetic buildings (rotated rectangles 6-30 m wide, in EPSG:32614, metres) on a
1.5 km square; each annotator sees each building with its own vertex noise (standard deviation 0.3 m), misses
5 % of them, adds 3 % of their own and gives another class to 10 %. Times, in one process:

- ``compare``: STRtree candidates, IoU, Hungarian matching and boundary distances for the
  3 pairs, clusters, and the figures (``Agreement.as_dict``, Krippendorff's alpha included);
- ``fuse``: the pixel-majority consensus polygon of every cluster (no database).

Prints the figures and, as the last line, one JSON object. The goal is ``compare`` ≤ 5 s.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/agreement.py [--polygons 1000] [--annotators 3]
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

CLASSES = ("building", "shed", "garage")


def buildings(rng, count: int, extent_m: float):
    """Rotated rectangles (metres) on a grid so that they do not overlap: centres, sizes, angles."""
    side = int(count**0.5) + 1
    step = extent_m / side
    cells = rng.choice(side * side, size=count, replace=False)
    centres = [((c % side + 0.5) * step, (c // side + 0.5) * step) for c in cells]
    sizes = rng.uniform(6, min(30, step * 0.6), size=(count, 2))
    angles = rng.uniform(0, 180, size=count)
    return centres, sizes, angles


def outline(shapely, affinity, centre, size, angle, rng, noise_m: float):
    x, y = centre
    w, h = size
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    corners = [(cx + rng.normal(0, noise_m), cy + rng.normal(0, noise_m)) for cx, cy in corners]
    return affinity.translate(affinity.rotate(shapely.Polygon(corners), angle, origin=(0, 0)), x, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polygons", type=int, default=1000)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import django

    django.setup()
    import numpy as np
    import pyproj
    import shapely
    from shapely import affinity

    from annotator.quality import agreement

    rng = np.random.default_rng(args.seed)
    centres, sizes, angles = buildings(rng, args.polygons, 1500.0)
    truth_labels = rng.choice(CLASSES, size=args.polygons)
    outlines = {}
    next_id = 1
    for k in range(args.annotators):
        name = f"annotator{k + 1}"
        seen = rng.random(args.polygons) >= 0.05
        geometries, labels = [], []
        for i in np.flatnonzero(seen):
            geometries.append(outline(shapely, affinity, centres[i], sizes[i], angles[i], rng, 0.3))
            labels.append(str(rng.choice(CLASSES)) if rng.random() < 0.10 else str(truth_labels[i]))
        for _ in range(int(args.polygons * 0.03)):
            centre = tuple(rng.uniform(0, 1500.0, size=2))
            geometries.append(outline(shapely, affinity, centre, rng.uniform(4, 8, 2), 0.0, rng, 0.0))
            labels.append(str(rng.choice(CLASSES)))
        ids = list(range(next_id, next_id + len(geometries)))
        next_id += len(geometries)
        outlines[name] = agreement.Outlines.of(ids, geometries, labels)
    unit = agreement.Unit("synthetic", pyproj.CRS.from_epsg(32614), outlines)
    total = sum(len(o) for o in outlines.values())

    start = time.perf_counter()
    result = agreement.compare([unit], agreement.DEFAULT_IOU_THRESHOLD)
    figures = result.as_dict()
    compare_s = time.perf_counter() - start

    start = time.perf_counter()
    for cluster in result.clusters:
        agreement.fuse([cluster.outline(name, index)[1] for name, index in cluster.members])
    fuse_s = time.perf_counter() - start

    print(f"{total} polygons from {args.annotators} annotators, {len(result.clusters)} clusters")
    for row in figures["pairs"]:
        print(
            f"  pair {' / '.join(row['annotators'])}: F1 {row['f1']}, mean IoU {row['mean_iou']}, "
            f"median boundary {row['median_boundary_m']} m, label alpha {row['label_alpha']}"
        )
    print(f"  overall label alpha {figures['overall']['label_alpha']}")
    print(f"compare (match 3 pairs, boundaries, clusters, figures): {compare_s:.3f} s (goal ≤ 5 s)")
    each_ms = 1000 * fuse_s / max(len(result.clusters), 1)
    print(f"fuse every cluster (pixel majority): {fuse_s:.3f} s, {each_ms:.2f} ms each")
    print(
        json.dumps(
            {
                "bench": "agreement",
                "polygons": total,
                "annotators": args.annotators,
                "clusters": len(result.clusters),
                "compare_s": round(compare_s, 3),
                "fuse_s": round(fuse_s, 3),
                "goal_compare_s": 5.0,
                "overall_label_alpha": figures["overall"]["label_alpha"],
                "pairs": figures["pairs"],
            }
        )
    )


if __name__ == "__main__":
    main()
