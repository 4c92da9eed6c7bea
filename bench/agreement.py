"""Benchmark (not a test): annotator agreement on 1,000 polygons by each of 3 annotators.

Synthetic buildings (rotated rectangles 6-30 m wide, in EPSG:32614, metres) on a
1.5 km square; each annotator sees each building with its own vertex noise (standard deviation 0.3 m), misses
5 % of them, adds 3 % of their own and gives another class to 10 %. Times, in one process:

- ``compare``: STRtree candidates, IoU, Hungarian matching and boundary distances for the
  3 pairs, clusters, and the figures (``Agreement.as_dict``, Krippendorff's alpha included);
- ``fuse``: the pixel-majority consensus polygon of every cluster (no database);
- ``end_to_end``: the same polygons stored as annotations (EPSG:4326) in a throwaway
  database (``test_agreement_bench_<pid>``), read back, projected to UTM and compared
  (``project_agreement``, what ``GET /agreement/`` runs), unless ``--no-database``;
- ``consensus_job``: then a consensus run of one area over the whole scene, as the
  ``consensus`` job runs it on a worker (``jobs.run_job`` here: compare, fuse every cluster,
  write the drafts with their versions in one transaction), progress reports included.

Prints the figures and, as the last line, one JSON object. The goal is ≤ 5 s for
``compare`` and for ``end_to_end``.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/agreement.py [--polygons 1000] [--annotators 3] [--no-database]
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
# Where the synthetic scene lies in EPSG:32614 (metres): North Dakota, as the test image.
ORIGIN_M = (500_000.0, 5_205_000.0)


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
    parser.add_argument("--no-database", action="store_true", help="skip the end-to-end run on the database")
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

    end_to_end_s, consensus_s, drafts = (None, None, None) if args.no_database else end_to_end(outlines, figures)

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
    if end_to_end_s is not None:
        print(
            f"end to end from the database (read, project to UTM, compare, figures): {end_to_end_s:.3f} s (goal ≤ 5 s)"
        )
        print(f"consensus job over the whole scene: {consensus_s:.3f} s, {drafts} drafts written")
    print(
        json.dumps(
            {
                "bench": "agreement",
                "polygons": total,
                "annotators": args.annotators,
                "clusters": len(result.clusters),
                "compare_s": round(compare_s, 3),
                "fuse_s": round(fuse_s, 3),
                "end_to_end_s": None if end_to_end_s is None else round(end_to_end_s, 3),
                "consensus_job_s": None if consensus_s is None else round(consensus_s, 3),
                "consensus_drafts": drafts,
                "goal_compare_s": 5.0,
                "overall_label_alpha": figures["overall"]["label_alpha"],
                "pairs": figures["pairs"],
            }
        )
    )


def end_to_end(outlines: dict, expected: dict) -> tuple[float, float, int]:
    """Store the outlines (metres from ``ORIGIN_M``) as annotations in a throwaway database and
    time ``project_agreement``; check that it finds the figures computed in memory. Then time
    a consensus job of an area over the whole scene. Returns (agreement s, consensus s, drafts)."""
    import numpy as np
    import pyproj
    import shapely
    from django.contrib.auth import get_user_model
    from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
    from django.db import connection

    from annotator.choices import ImageStatus, Role
    from annotator.models import Annotation, Image, LabelClass, Membership, Project
    from annotator.quality import agreement

    to_lonlat = pyproj.Transformer.from_crs(32614, 4326, always_xy=True)

    def lonlat(geometry):
        moved = shapely.transform(geometry, lambda xy: xy + np.asarray(ORIGIN_M))
        return shapely.transform(moved, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))

    # A name of its own: other benchmarks and test runs may hold test_<name> at the same time.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_agreement_bench_{os.getpid()}"
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        project = Project.objects.create(name="agreement bench")
        everything = shapely.union_all(np.concatenate([o.geometries for o in outlines.values()]))
        footprint = GEOSGeometry(shapely.to_wkt(lonlat(shapely.envelope(everything).buffer(50))), srid=4326)
        image = Image.objects.create(
            project=project, name="scene.tif", status=ImageStatus.READY, footprint=footprint, width=10, height=10
        )
        classes = {name: LabelClass.objects.create(project=project, name=name) for name in CLASSES}
        rows = []
        for name, found in outlines.items():
            user = get_user_model().objects.create_user(username=name)
            Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
            for geometry, label in zip(lonlat(found.geometries), found.labels, strict=True):
                polygon = GEOSGeometry(memoryview(shapely.to_wkb(geometry)), srid=4326)
                rows.append(
                    Annotation(
                        project=project,
                        image=image,
                        author=user,
                        label_class=classes[label],
                        geometry=MultiPolygon(polygon, srid=4326),
                    )
                )
        Annotation.objects.bulk_create(rows, batch_size=1000)
        start = time.perf_counter()
        figures = agreement.project_agreement(project)
        seconds = time.perf_counter() - start
        stored = {tuple(p["annotators"]): p["matched"] for p in figures["pairs"]}
        assert stored == {tuple(p["annotators"]): p["matched"] for p in expected["pairs"]}, stored

        from annotator import jobs
        from annotator.choices import JobStatus
        from annotator.models import AssignedArea

        owner = get_user_model().objects.create_user(username="owner")
        Membership.objects.create(project=project, user=owner, role=Role.OWNER)
        area = AssignedArea.objects.create(project=project, image=image, name="all", geometry=footprint)
        run = agreement.start_consensus(area, owner)
        start = time.perf_counter()
        job = jobs.run_job(run.job.pk)
        consensus_s = time.perf_counter() - start
        assert job.status == JobStatus.SUCCEEDED, job.error
        run.refresh_from_db()
        return seconds, consensus_s, len(run.created)
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)


if __name__ == "__main__":
    main()
