"""Benchmark (not a test): a model evaluation's runtime per 100 approved polygons, on this machine's CPUs.

On a throwaway database (``test_evaluate_bench_<pid>``) and a temporary storage folder, the
NAIP scene (934 x 723 px, one window) is ingested and encoded with the project's model
(the untrained tiny SAM 2.1 unless a checkpoint is present), and ``--objects`` approved
squares (half-sides 8 to 40 px, seeded) are stored as annotations in EPSG:4326. Then
``annotator.quality.evaluation.run_evaluation`` runs, exactly as the job does, and the time
is split into its stages by timing the functions it calls:

- ``window``: choosing the window and rasterizing the ground truth (``object_window``);
- ``decode``: :func:`annotator.segment.service.decode_in_window` (the click path's decoder);
- ``upsample``: the mask of each click (:func:`annotator.segment.service.upsample`);
- ``next_click``: the simulated annotator (distance transforms of the error regions);
- the rest (IoU, bookkeeping, the rows).

Untrained weights never reach IoU 0.90, so every object takes all ``--max-clicks`` clicks:
the worst case. A trained model stops an object after 5 clicks once it reaches 0.90.
``--demo`` replaces the squares with the demo's approved ponds (``fixtures/demo/``, 46
outlines of 0.15 to 37.5 ha) and evaluates the sample that ``manage.py load_demo`` queues
(``annotator.demo``: 20 ponds, seed 0, up to 20 clicks): the demo evaluation's runtime.
Prints the figures and, as the last line, one JSON object.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/evaluate.py [--objects 100] [--max-clicks 20] [--demo]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")
os.environ.setdefault("GEOPROMPT_SAM2_ALLOW_UNTRAINED", "true")

from bench.segment import encode_reference_image  # noqa: E402


class Stopwatch:
    """Wraps module functions so that each call's time is added to a named total (seconds)."""

    def __init__(self):
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, module, name: str, label: str) -> None:
        original = getattr(module, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.totals[label] = self.totals.get(label, 0.0) + time.perf_counter() - t0
                self.calls[label] = self.calls.get(label, 0) + 1

        setattr(module, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--demo", action="store_true", help="the demo's ponds and evaluation sample instead of squares")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="geoprompt-bench-eval-"))
    os.environ["GEOPROMPT_STORAGE_URL"] = str(work / "storage")

    import django

    django.setup()
    import numpy as np
    import torch
    from affine import Affine
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
    from django.db import connection
    from pyproj import Transformer
    from shapely.geometry import Polygon, box

    from annotator.models import Annotation, LabelClass, ModelEvaluation, Project
    from annotator.quality import evaluation
    from annotator.segment import service as segment

    settings.SAM2_ALLOW_UNTRAINED = True
    if args.threads:
        torch.set_num_threads(args.threads)
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_evaluate_bench_{os.getpid()}"
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        user = get_user_model().objects.create_user("bench", password=None)
        project = Project.objects.create(name="bench")
        classes = [LabelClass.objects.create(project=project, name=n, order=i) for i, n in enumerate(("field", "pond"))]
        image = encode_reference_image(project)

        rng = np.random.default_rng(args.seed)
        to_crs = Affine.from_gdal(*image.geotransform)
        to_4326 = Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True)
        rows = []
        for i in range(args.objects):
            half = float(rng.uniform(8, 40))
            col, row = rng.uniform([half + 2, half + 2], [image.width - half - 2, image.height - half - 2])
            ring = box(col - half, row - half, col + half, row + half).exterior.coords
            lonlat = [to_4326.transform(*(to_crs @ xy)) for xy in ring]
            polygon = GEOSGeometry(Polygon(lonlat).wkt, srid=4326)
            rows.append(
                Annotation(
                    project=project,
                    image=image,
                    label_class=classes[i % 2],
                    author=user,
                    geometry=MultiPolygon(polygon, srid=4326),
                    area_m2=(2 * half) ** 2 * 25.0,
                    state="approved",
                )
            )
        if args.demo:
            from annotator import demo

            rows = [
                Annotation(
                    project=project,
                    image=image,
                    label_class=classes[1],
                    author=user,
                    geometry=MultiPolygon(GEOSGeometry(json.dumps(f["geometry"]), srid=4326), srid=4326),
                    area_m2=f["properties"]["area_m2"],
                    state="approved",
                )
                for f in demo.reference_features()
            ]
            args.max_clicks = demo.EVALUATION_MAX_CLICKS
        Annotation.objects.bulk_create(rows)

        watch = Stopwatch()
        watch.wrap(evaluation, "object_window", "window")
        watch.wrap(evaluation, "next_click", "next_click")
        watch.wrap(segment, "decode_in_window", "decode")
        watch.wrap(segment, "upsample", "upsample")
        params = evaluation.EvaluationParams(project.sam2_model, max_clicks=args.max_clicks)
        if args.demo:
            params = evaluation.EvaluationParams(
                project.sam2_model, sample=demo.EVALUATION_SAMPLE, seed=demo.EVALUATION_SEED, max_clicks=args.max_clicks
            )
        row = evaluation.create_evaluation(project, user, params)
        # The model is built before the clock starts (a worker keeps it between jobs).
        segment.decoder_model(project.sam2_model)
        t0 = time.perf_counter()
        row = evaluation.run_evaluation(ModelEvaluation.objects.get(pk=row.pk))
        wall = time.perf_counter() - t0
        s = row.summary
        clicks = sum(len(r["ious"]) for r in row.object_results)
        per_100 = wall / s["objects"] * 100
        print(
            f"{s['objects']} objects ({s['skipped'] or 'none skipped'}), {clicks} clicks, model {row.model_name} "
            f"(untrained={row.untrained}); torch threads {torch.get_num_threads()}, CPUs {os.cpu_count()}"
        )
        print(
            f"run_evaluation: {wall:.1f} s = {per_100:.1f} s per 100 objects, {wall / clicks * 1000:.0f} ms per click"
        )
        stages = {}
        for label in ("window", "decode", "upsample", "next_click"):
            total = watch.totals.get(label, 0.0)
            stages[label] = round(total, 3)
            print(f"  {label:<11} {total:7.2f} s  {total / wall:5.1%}  ({watch.calls.get(label, 0)} calls)")
        rest = wall - sum(stages.values())
        print(f"  {'rest':<11} {rest:7.2f} s  {rest / wall:5.1%}")
        print(f"figures (meaningless with untrained weights): NoC@90 {s['noc90']:.2f}, mIoU@1..5 {s['miou']}")
        print(
            json.dumps(
                {
                    "bench": "evaluate",
                    "demo": args.demo,
                    "objects": s["objects"],
                    "clicks": clicks,
                    "max_clicks": args.max_clicks,
                    "untrained": row.untrained,
                    "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "wall_s": round(wall, 2),
                    "seconds_per_100_objects": round(per_100, 1),
                    "ms_per_click": round(wall / clicks * 1000, 1),
                    "stages_s": {**stages, "rest": round(rest, 3)},
                }
            )
        )
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)


if __name__ == "__main__":
    main()
