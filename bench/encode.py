"""Benchmark (not a test): the SAM2 encode pipeline against a plain rasterio + set_image loop.

On a multi-window image made from a reference raster, in the same run and with the same
model object:

- ``pipeline``: ``encoding.encode_image`` (COG reads with band mapping and stretch, batches,
  fp16 safetensors writes, FeatureTile rows);
- ``baseline``: for each window of the same plan, ``rasterio`` read of the COG window and
  ``SAM2ImagePredictor.set_image`` (features kept in memory only).

Prints windows/s for both and, as the last line, one JSON object. Uses a throwaway
database (``test_<name>``) and a temporary storage root.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/encode.py [--model sam2.1_hiera_tiny] [--batch-size 1]
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam2.1_hiera_tiny")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1536)
    parser.add_argument("--source", default=str(REPO / "fixtures" / "rasters" / "naip_rgbn_utm14_2020.tif"))
    args = parser.parse_args()

    storage_dir = tempfile.mkdtemp(prefix="geoprompt-bench-")
    os.environ["GEOPROMPT_STORAGE_URL"] = storage_dir

    import django

    django.setup()
    import numpy as np
    import rasterio
    import torch
    from django.conf import settings
    from django.db import connection
    from rasterio.enums import Resampling
    from rasterio.windows import Window as RioWindow
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    from annotator.imagery import ingest as imagery
    from annotator.models import FeatureTile, Image, Project
    from annotator.sam2 import encoder, encoding
    from annotator.sam2 import registry as sam2_models
    from annotator.storage import get_storage

    settings.SAM2_BATCH_SIZE = args.batch_size
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        project = Project.objects.create(name="bench", sam2_model=args.model)
        image = Image.objects.create(project=project, name="bench.tif")
        image.original_key = f"{image.storage_prefix}/original.tif"
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "bench.tif"
            with rasterio.open(args.source) as src:
                data = src.read(out_shape=(src.count, args.height, args.width), resampling=Resampling.bilinear)
                profile = src.profile.copy()
                profile.update(
                    width=args.width,
                    height=args.height,
                    transform=src.transform @ src.transform.scale(src.width / args.width, src.height / args.height),
                    tiled=True,
                    blockxsize=256,
                    blockysize=256,
                )
            with rasterio.open(local, "w", **profile) as dst:
                dst.write(data)
            get_storage().put_file(local, image.original_key)
        image.save()
        imagery.ingest_image(image)
        plan = encoding.image_windows(image)
        loaded = sam2_models.load_model(args.model)
        predictor = SAM2ImagePredictor(loaded.model)
        print(
            f"image {args.width} x {args.height} px, {len(plan)} windows at {plan[-1].level + 1} levels; "
            f"model {args.model} on {loaded.device} (untrained={loaded.untrained}); batch {args.batch_size}; "
            f"torch threads {torch.get_num_threads()}"
        )
        # Warm-up (first-call allocations, jit), not timed.
        predictor.set_image(np.zeros((1024, 1024, 3), dtype=np.uint8))
        encoder.encode_batch(loaded, [np.zeros((1024, 1024, 3), dtype=np.uint8)])

        def sync() -> None:
            if loaded.device.type == "cuda":
                torch.cuda.synchronize()

        # Baseline: read each window with rasterio, set_image.
        cog = get_storage().path(image.cog_key)
        sync()
        start = time.perf_counter()
        with rasterio.open(cog) as src:
            for window in plan:
                region = RioWindow(window.src_col_off, window.src_row_off, window.src_width, window.src_height)
                rgb = src.read(
                    [1, 2, 3], window=region, out_shape=(3, window.height, window.width), resampling=Resampling.average
                )
                predictor.set_image(np.ascontiguousarray(rgb.transpose(1, 2, 0)))
                sync()
        baseline_s = time.perf_counter() - start

        # Pipeline: the encode job's service.
        sync()
        start = time.perf_counter()
        result = encoding.encode_image(image)
        sync()
        pipeline_s = time.perf_counter() - start
        sizes = list(FeatureTile.objects.filter(image=image).values_list("size_bytes", flat=True))
        assert result.encoded == len(plan) == len(sizes)
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)
        get_storage().delete_prefix("projects")

    windows = len(plan)
    mib = sum(sizes) / len(sizes) / 2**20
    print(
        f"baseline (rasterio + SAM2ImagePredictor.set_image): {baseline_s:.2f} s, {windows / baseline_s:.3f} windows/s"
    )
    print(
        f"pipeline (encode job service, fp16 store + rows):  {pipeline_s:.2f} s, {windows / pipeline_s:.3f} windows/s"
    )
    print(f"overhead ratio pipeline / baseline: {pipeline_s / baseline_s:.3f}; {mib:.3f} MiB per window")
    print(
        json.dumps(
            {
                "model": args.model,
                "device": str(loaded.device),
                "batch_size": args.batch_size,
                "windows": windows,
                "pipeline_s": round(pipeline_s, 3),
                "baseline_s": round(baseline_s, 3),
                "overhead_ratio": round(pipeline_s / baseline_s, 4),
                "pipeline_windows_per_s": round(windows / pipeline_s, 4),
                "baseline_windows_per_s": round(windows / baseline_s, 4),
                "speedup_vs_baseline": round(baseline_s / pipeline_s, 4),
                "mib_per_window": round(mib, 4),
                "untrained": loaded.untrained,
            }
        )
    )


if __name__ == "__main__":
    main()
