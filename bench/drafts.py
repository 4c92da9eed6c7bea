"""Benchmark (not a test): segment everything on the cached features, on CPU, at two image sizes.

For each size (``--small-size`` and ``--size`` px square, the reference scene repeated as in
``bench/segment.py``), the image is ingested and ``--windows`` of its level-0 windows are
encoded (the encoder is the costly part and is not what is measured: encoding all ~200
windows of a 10,000 px image with the tiny model takes hours on 2 cores). Then, in a fresh
child process per size (so its peak memory is the drafts step's alone), a segment-everything
run (``annotator.drafts.runs.execute``, the job runner's code) drafts those windows:
SAM2's grid, prompt encoder and mask decoder in batches, its filters, the outlines and the
merge, the Annotation rows. Both sizes draft the same number of windows, so their peak RSS
shows whether memory grows with the image (it must not: one window at a time).

Prints, per size: windows, points decoded per second, drafts, seconds, peak RSS, image
encoder calls in the drafts process (must be 0); the extrapolation to every window of the
large image (its full plan, at the measured seconds per window); and, as the last line, one
JSON object. Results go to ``bench/results/drafts_cpu.{md,json}`` with ``--save``.
Uses a throwaway database of its own (``test_geoprompt_drafts_p<pid>``) and a temporary storage root.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/drafts.py [--size 10000] [--small-size 2048]
        [--windows 2] [--points-per-side 32] [--loose] [--model sam2.1_hiera_tiny] [--save]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")
os.environ.setdefault("GEOPROMPT_SAM2_ALLOW_UNTRAINED", "true")


# The untrained model's masks never pass SAM2's default thresholds (stability 0 at offset
# 1.0): ``--loose`` lets some through, so that outlines, the merge and the rows are timed too.
LOOSE = {"pred_iou_thresh": 0.5, "stability_score_thresh": 0.3, "stability_score_offset": 0.02}


def child(image_id: int, points_per_side: int, loose: bool) -> None:
    """Draft the image's encoded windows in this process; print one JSON line of figures."""
    import django

    django.setup()
    import torch

    from annotator.drafts import runs
    from annotator.drafts.params import DraftParams
    from annotator.models import DraftRun, Image
    from annotator.sam2.registry import model_identity

    image = Image.objects.select_related("project").get(pk=image_id)
    digest, untrained = model_identity(image.project.sam2_model)
    params = DraftParams(points_per_side=points_per_side, **(LOOSE if loose else {}))
    run = DraftRun.objects.create(
        project=image.project,
        image=image,
        kind="everything",
        params=params.as_json(),
        model_name=image.project.sam2_model,
        checkpoint_digest=digest,
        untrained=untrained,
    )
    start = time.perf_counter()
    run = runs.execute(run)
    seconds = time.perf_counter() - start
    counts = run.counts
    print(
        json.dumps(
            {
                "windows": counts["windows_done"],
                "points": counts["points"],
                "masks": counts["masks"],
                "drafts": counts["drafts"],
                "seconds": round(seconds, 2),
                "points_per_s": round(counts["points"] / seconds, 2),
                "seconds_per_window": round(seconds / max(counts["windows_done"], 1), 2),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "encoder_calls": counts["encoder_calls"],
                "decoder_only": counts["decoder_only"],
                "torch_threads": torch.get_num_threads(),
                "untrained": untrained,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1_hiera_tiny")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--small-size", type=int, default=2048)
    parser.add_argument("--windows", type=int, default=2, help="level-0 windows encoded and drafted per image")
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--loose", action="store_true", help=f"thresholds {LOOSE} instead of SAM2's defaults")
    parser.add_argument("--save", action="store_true", help="write bench/results/drafts_cpu.{md,json}")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.points_per_side, args.loose)
        return

    storage_dir = tempfile.mkdtemp(prefix="geoprompt-bench-")
    os.environ["GEOPROMPT_STORAGE_URL"] = storage_dir

    import django

    django.setup()
    from django.db import connection

    from annotator.imagery import ingest as imagery
    from annotator.models import Image, Project
    from annotator.sam2 import encoding
    from annotator.storage import get_storage
    from bench.segment import machine, write_large_raster
    from tests.support.processes import test_database_url

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    # A database of this run's own: other benches on the machine use test_geoprompt.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_geoprompt_drafts_p{os.getpid()}"
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    results: dict[int, dict] = {}
    plans: dict[int, int] = {}
    try:
        project = Project.objects.create(name="bench", sam2_model=args.model)
        for size in (args.small_size, args.size):
            with tempfile.TemporaryDirectory() as tmp:
                image = Image.objects.create(project=project, name=f"bench_{size}.tif")
                image.original_key = f"{image.storage_prefix}/original.tif"
                raster = write_large_raster(
                    REPO / "fixtures" / "rasters" / "naip_rgbn_utm14_2020.tif", Path(tmp) / "bench.tif", size
                )
                get_storage().put_file(raster, image.original_key)
            image.save()
            t = time.monotonic()
            imagery.ingest_image(image)
            image.refresh_from_db()
            ingest_s = time.monotonic() - t
            plan = encoding.image_windows(image)
            plans[size] = len(plan)
            level0 = [w for w in plan if w.level == 0]
            picks = sorted({round(i * (len(level0) - 1) / max(1, args.windows - 1)) for i in range(args.windows)})
            t = time.monotonic()
            encoding.encode_windows(image, [level0[i] for i in picks])
            encode_s = time.monotonic() - t
            image.status = "encoded"
            image.save(update_fields=["status"])
            print(
                f"{size} x {size} px: {len(plan)} windows in its plan; ingest {ingest_s:.0f} s; "
                f"{len(picks)} level-0 windows encoded in {encode_s:.0f} s (not measured below)",
                flush=True,
            )
            env = {**os.environ, "GEOPROMPT_DATABASE_URL": test_database_url(), "GEOPROMPT_STORAGE_URL": storage_dir}
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(image.pk),
                    "--points-per-side",
                    str(args.points_per_side),
                    *(["--loose"] if args.loose else []),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            results[size] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)
        get_storage().delete_prefix("projects")

    large, small = results[args.size], results[args.small_size]
    for size, r in results.items():
        print(
            f"{size:>6} px: {r['windows']} windows, {r['points']} points, {r['points_per_s']:.2f} points/s, "
            f"{r['masks']} masks kept, {r['drafts']} drafts, {r['seconds']:.1f} s ({r['seconds_per_window']:.1f} s "
            f"per window), peak RSS {r['peak_rss_mib']:.0f} MiB, encoder calls {r['encoder_calls']}"
        )
    extrapolated = plans[args.size] * large["seconds_per_window"]
    rss_ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    print(
        f"peak RSS {args.size} px / {args.small_size} px: {rss_ratio:.3f} (same windows drafted: memory does not "
        "follow the image size)"
    )
    print(
        f"EXTRAPOLATION, not measured: all {plans[args.size]} windows of the {args.size} px image at "
        f"{large['seconds_per_window']:.1f} s per window = {extrapolated / 3600:.1f} h on this machine"
    )
    # SAM2's default density (32 x 32 points per window) at the measured points per second.
    extrapolated_default = plans[args.size] * 32 * 32 / large["points_per_s"]
    print(
        f"EXTRAPOLATION, not measured: at points_per_side 32 (1024 points per window), "
        f"{plans[args.size] * 1024} points at {large['points_per_s']:.2f} points/s = "
        f"{extrapolated_default / 3600:.1f} h"
    )
    summary = {
        "points_per_s": large["points_per_s"],
        "windows": large["windows"],
        "drafts": large["drafts"],
        "seconds": large["seconds"],
        "peak_rss_mib": large["peak_rss_mib"],
        "encoder_calls": large["encoder_calls"],
        "size_px": args.size,
        "small_size_px": args.small_size,
        "small_peak_rss_mib": small["peak_rss_mib"],
        "peak_rss_ratio_large_over_small": round(rss_ratio, 3),
        "points_per_side": args.points_per_side,
        "thresholds": LOOSE if args.loose else "SAM2 defaults",
        "full_plan_windows": plans[args.size],
        "extrapolated_full_image_s": round(extrapolated, 1),
        "extrapolated_full_image_at_32_per_side_s": round(extrapolated_default, 1),
        "model": args.model,
        "untrained": large["untrained"],
        "machine": machine(),
        "date": started,
    }
    if args.save:
        out_dir = REPO / "bench" / "results"
        (out_dir / "drafts_cpu.json").write_text(json.dumps({"summary": summary, "runs": results}, indent=2) + "\n")
        lines = [
            "# bench/drafts.py: segment everything on the cached features (CPU)",
            "",
            f"{started}; {summary['machine']['nproc']} cores ({summary['machine']['cpu_model']}), load average "
            f"{summary['machine']['loadavg']} (shared with other engineers' work); model {args.model} "
            f"(untrained={large['untrained']}); points_per_side {args.points_per_side}; thresholds "
            f"{summary['thresholds']}. Only {args.windows} level-0 window(s) per image were encoded and drafted; "
            "the full-image time is an extrapolation.",
            "",
            "| image | windows drafted | points | points/s | masks | drafts | s | s/window | peak RSS MiB | "
            "encoder calls |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for size, r in results.items():
            lines.append(
                f"| {size} px | {r['windows']} | {r['points']} | {r['points_per_s']} | {r['masks']} | {r['drafts']} | "
                f"{r['seconds']} | {r['seconds_per_window']} | {r['peak_rss_mib']} | {r['encoder_calls']} |"
            )
        lines += [
            "",
            f"Peak RSS {args.size} px / {args.small_size} px: {rss_ratio:.3f}.",
            f"Extrapolation (not measured): all {plans[args.size]} windows of the {args.size} px image at "
            f"{large['seconds_per_window']} s per window: {extrapolated / 3600:.1f} h; at points_per_side 32 "
            f"(SAM2's default, 1024 points per window) and the measured points/s: {extrapolated_default / 3600:.1f} h.",
            "",
        ]
        (out_dir / "drafts_cpu.md").write_text("\n".join(lines))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
