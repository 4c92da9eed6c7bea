"""Benchmark (not a test): the review queue of a drafting run ordered by risk, and a click's figures.

In a throwaway database (``test_risk_bench_<pid>``), one run's ``--drafts`` drafts (source
``auto``, SAM2 figures in ``provenance``, no score yet) on one image, a class with 50
approved annotations (its typical area). Times, in one process, through the service that
``GET review/queue/?run=&order=risk`` runs (one page of 100, serialized as the API does;
each figure the least of ``--repeat`` runs):

- ``first_by_risk``: the first listing, which scores every unscored draft in bulk;
- ``by_risk``: later listings (stored ``risk``, ordered in SQL);
- ``oldest_first``: the same queue in the default order (the baseline);
- ``python_sort``: the alternative to a stored score: load every draft, score it with
  :func:`risk_of`, sort in Python, take the page;
- ``store_values`` vs ``store_bulk_update``: writing the 5,000 scores with one
  ``UPDATE … FROM (VALUES …)`` per 2,000 rows against Django's ``bulk_update`` (batches of 1,000);
- ``stability_near_mask`` vs ``stability_whole_window``: the click path's stability on the
  pixels near a mask of 40 x 40 cells against upsampling the whole 1024 x 1024 window.

Prints the figures and ratios and, as the last line, one JSON object.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/review_risk.py [--drafts 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")


def timed(run, repeat: int) -> tuple[float, object]:
    """Least seconds of ``repeat`` runs (the figure least disturbed by other processes on a
    shared machine), and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    import numpy as np
    import torch
    import torch.nn.functional as F
    from django.contrib.auth import get_user_model
    from django.contrib.gis.geos import MultiPolygon, Polygon
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from sam2.utils.amg import calculate_stability_score

    from annotator.access import Access
    from annotator.api.workflow.serializers import AnnotationFeatureSerializer
    from annotator.choices import ImageStatus, Role
    from annotator.models import Annotation, Image, LabelClass, Membership, Project
    from annotator.segment.service import stability_score
    from annotator.workflow import review, risk
    from annotator.workflow.risk import risk_of, typical_areas

    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_risk_bench_{os.getpid()}"
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    figures: dict = {}
    try:
        user = get_user_model().objects.create_user("reviewer")
        project = Project.objects.create(name="risk bench")
        Membership.objects.create(project=project, user=user, role=Role.REVIEWER)
        field = LabelClass.objects.create(project=project, name="field")
        footprint = Polygon.from_bbox((-98.70, 47.00, -98.60, 47.10))
        footprint.srid = 4326
        image = Image.objects.create(
            project=project, name="scene", status=ImageStatus.ENCODED, footprint=footprint, width=10_000, height=10_000
        )
        rng = np.random.default_rng(1)

        def square(i: int, side: float = 2e-4):
            x, y = -98.70 + 1e-3 * (i % 90), 47.00 + 1e-3 * (i // 90)
            return MultiPolygon(Polygon.from_bbox((x, y, x + side, y + side)), srid=4326)

        approved = [
            Annotation(project=project, image=image, label_class=field, author=user, geometry=square(i),
                       area_m2=float(rng.uniform(200, 800)), state="approved")
            for i in range(50)
        ]  # fmt: skip
        Annotation.objects.bulk_create(approved)
        rows = []
        for i in range(args.drafts):
            provenance = {
                "run": 1,
                "predicted_iou": float(rng.uniform(0.5, 1.0)),
                "stability": float(rng.uniform(0.7, 1.0)),
                "candidate_disagreement": float(rng.uniform(0, 0.6)),
                "touches_window_edge": bool(rng.random() < 0.1),
                "level": 0,
                "model": "sam2.1_hiera_tiny",
                "untrained": True,
            }
            rows.append(
                Annotation(project=project, image=image, label_class=field, author=user, geometry=square(i, 1e-4),
                           area_m2=float(rng.uniform(20, 5000)), source="auto", provenance=provenance)
            )  # fmt: skip
        Annotation.objects.bulk_create(rows, batch_size=2000)
        access = Access.with_role(user, project, Role.REVIEWER)

        def page(order: str):
            queryset = review.review_queue(project, user, review.QueueFilters(run=1, order=order))
            items = list(queryset.select_related("author", "reviewed_by", "label_class")[:100])
            count = queryset.count()
            return count, AnnotationFeatureSerializer(items, many=True, context={"access": access}).data

        with CaptureQueriesContext(connection) as first_queries:
            t0 = time.perf_counter()
            page("risk")
            figures["first_by_risk_s"] = time.perf_counter() - t0
        with CaptureQueriesContext(connection) as later_queries:
            figures["by_risk_s"], (count, data) = timed(lambda: page("risk"), args.repeat)
        figures["oldest_first_s"], _ = timed(lambda: page("submitted"), args.repeat)
        assert count == args.drafts and len(data["features"]) == 100

        def python_sort():
            queryset = review.review_queue(project, user, review.QueueFilters(run=1))
            drafts = list(queryset.select_related("author", "reviewed_by", "label_class"))
            typical = typical_areas(project.pk, [field.pk])
            scored = [(risk_of(a.provenance, a.area_m2, typical.get(a.label_class_id)), a) for a in drafts]
            scored.sort(key=lambda pair: -pair[0].score)
            return AnnotationFeatureSerializer([a for _, a in scored[:100]], many=True, context={"access": access}).data

        figures["python_sort_s"], _ = timed(python_sort, args.repeat)

        scored = list(Annotation.objects.filter(source="auto").only("id", "risk", "risk_parts"))

        def store_values():
            risk._store(scored)

        def store_bulk_update():
            Annotation.objects.bulk_update(scored, ["risk", "risk_parts"], batch_size=1000)

        figures["store_values_s"], _ = timed(store_values, args.repeat)
        figures["store_bulk_update_s"], _ = timed(store_bulk_update, args.repeat)
        figures["queries_first"] = len(first_queries)
        figures["queries_later"] = len(later_queries) // args.repeat
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)

    rows_, cols_ = np.mgrid[0:256, 0:256]
    logits = (4.0 - np.hypot(rows_ - 100.0, cols_ - 120.0) / 5.0).astype(np.float32)  # > 0 within 20 cells
    near_s, near = timed(lambda: stability_score(logits, 1024, 1024), args.repeat * 4)

    def whole():
        up = F.interpolate(torch.from_numpy(logits)[None, None], (1024, 1024), mode="bilinear", align_corners=False)
        return float(calculate_stability_score(up[0], 0.0, 1.0)[0])

    whole_s, full = timed(whole, args.repeat * 4)
    assert abs(near - full) < 1e-6
    figures["stability_near_mask_ms"] = near_s * 1000
    figures["stability_whole_window_ms"] = whole_s * 1000

    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    figures.update(
        drafts=args.drafts,
        by_risk_vs_oldest_first=round(figures["by_risk_s"] / figures["oldest_first_s"], 2),
        python_sort_vs_by_risk=round(figures["python_sort_s"] / figures["by_risk_s"], 2),
        bulk_update_vs_values=round(figures["store_bulk_update_s"] / figures["store_values_s"], 2),
        whole_vs_near_stability=round(figures["stability_whole_window_ms"] / figures["stability_near_mask_ms"], 2),
        machine=f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}, torch threads "
        f"{torch.get_num_threads()}",
    )
    for name, value in figures.items():
        print(f"{name:28s} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
