"""Benchmark (not a test): SAM2 on a CUDA GPU: encode, click decoder, drafts over 10,000² px.

GPU machines here have torch and no database, so this calls the model-level code the app
runs (:mod:`annotator.sam2.encoder`, :mod:`annotator.sam2.decoder`, :mod:`annotator.drafts`)
with Django configured in memory, on real image windows cut beforehand. Two steps:

    # here (rasterio): 8 real 1024 x 1024 windows from fixtures/rasters into one .npz
    .venv/bin/python bench/gpu.py prepare --out var/gpu/windows.npz
    # on the GPU machine (torch, SAM2, Django, DRF, affine importable)
    python bench/gpu.py run --windows var/gpu/windows.npz --out bench/results/gpu.json

``run`` measures, in one process, each part guarded so that one failure still reports the rest:

1. ``encode`` per model: ``SAM2ImagePredictor.set_image`` one window at a time (fp32, the
   predictor's own path, features left on the GPU) against :func:`encoder.encode_batch`
   (bf16 autocast, batches of 8 and 16, features copied to the host as fp16 as the encode
   job stores them); windows/s, the ratio, and the cosine similarity of the two ``image_embed``.
2. ``click`` per model: ``SAM2ImagePredictor.predict`` on set features (``raw``) against the
   endpoint's decoder call (prompt encoder + :func:`decoder.decode_windows`) for one click and
   for 8 clicks on 8 windows in one pass (what the web process's batcher does under load).
   Decoder only: the HTTP stack and the outline run on the web machine's CPU, measured by
   bench/segment.py.
3. ``drafts`` (large model): every window of a 10,000 x 10,000 px plan (232 windows, 5 levels)
   encoded in batches and then, per window, the 32 x 32 point grid through
   :func:`filters.filter_window` (SAM2's generator filters); time, points/s, masks kept,
   peak GPU memory. The window contents cycle through the prepared ones. The merge across
   windows (shapely, on the CPU) is not run here.

Prints each figure and, as the last line, one JSON object (also written to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SOURCES = ("naip_rgbn_utm14_2020.tif", "naip_rgbn_utm14_2009.tif", "landsat_rgb_utm18.tif", "landsat_4band_4326.tif")


def prepare(out: Path) -> None:
    """Two 1024² windows per source raster (bands 1-3, 2-98 % stretch), resampled and flipped."""
    import numpy as np
    import rasterio
    from rasterio.enums import Resampling

    windows = []
    for name in SOURCES:
        with rasterio.open(REPO / "fixtures" / "rasters" / name) as src:
            bands = src.read([1, 2, 3], out_shape=(3, 1024, 1024), resampling=Resampling.bilinear).astype("float64")
        low, high = np.percentile(bands, (2, 98), axis=(1, 2), keepdims=True)
        rgb = (np.clip((bands - low) / np.maximum(high - low, 1e-9), 0, 1) * 255).astype("uint8").transpose(1, 2, 0)
        windows += [rgb, np.ascontiguousarray(rgb[::-1, ::-1])]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, windows=np.stack(windows))
    print(f"{len(windows)} windows -> {out} ({out.stat().st_size / 2**20:.1f} MiB)")


def configure_django(device: str) -> None:
    from django.conf import settings

    settings.configure(
        USE_I18N=False,
        SAM2_ALLOW_UNTRAINED=True,
        SAM2_UNTRAINED_SEED=int(os.environ.get("GEOPROMPT_SAM2_UNTRAINED_SEED", "0")),
        SAM2_DEVICE=device,
        SAM2_CHECKPOINT_DIR=os.environ.get("GEOPROMPT_SAM2_CHECKPOINT_DIR", tempfile.mkdtemp()),
    )


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int, warmup: int = 3) -> list[float]:
    """Wall milliseconds of ``fn()`` (which must synchronise the GPU itself), after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def p(values: list[float], q: float) -> float:
    return round(sorted(values)[min(len(values) - 1, int(q * len(values)))], 3)


def bench_encode(loaded, windows, count: int) -> dict:
    import torch
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    from annotator.sam2.encoder import encode_batch

    predictor = SAM2ImagePredictor(loaded.model)
    frames = [windows[i % len(windows)] for i in range(count)]

    def baseline() -> None:
        for rgb in frames:
            predictor.set_image(rgb)
        sync()

    def ours(batch: int):
        def run() -> None:
            for start in range(0, count, batch):
                # Copied to the host as fp16, as the encode job stores them (and the copy waits for the GPU).
                stored = [
                    {k: v.to("cpu", torch.float16) for k, v in f.items()}
                    for f in encode_batch(loaded, frames[start : start + batch])
                ]
                assert len(stored) == len(frames[start : start + batch])

        return run

    result = {"windows": count}
    base_ms = statistics.median(timed(baseline, 3, warmup=1))
    result["set_image_windows_per_s"] = round(count / base_ms * 1000, 2)
    for batch in (8, 16):
        ms = statistics.median(timed(ours(batch), 3, warmup=1))
        result[f"batched_bf16_b{batch}_windows_per_s"] = round(count / ms * 1000, 2)
        result[f"batched_b{batch}_over_set_image"] = round(base_ms / ms, 2)
    predictor.set_image(frames[0])
    theirs = predictor._features["image_embed"][0].float().flatten()
    mine = encode_batch(loaded, frames[:1])[0]["image_embed"].float().flatten()
    result["bf16_image_embed_cosine"] = round(float(torch.nn.functional.cosine_similarity(mine, theirs, dim=0)), 5)
    return result


def bench_click(loaded, windows, clicks: int) -> dict:
    import numpy as np
    import torch
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    from annotator.sam2 import decoder, features
    from annotator.sam2.encoder import encode_batch

    model = loaded.model
    stored = [{k: v.to("cpu", torch.float16) for k, v in f.items()} for f in encode_batch(loaded, windows[:8])]
    feats = [features.to_decoder_inputs(s, loaded.device) for s in stored]
    predictor = SAM2ImagePredictor(model)
    predictor._features = {"image_embed": feats[0].image_embed, "high_res_feats": feats[0].high_res_feats}
    predictor._orig_hw = [(1024, 1024)]
    predictor._is_image_set = True
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1024, size=(clicks + 8, 2)).astype("float32")
    it = iter(range(10**9))

    def raw() -> None:
        predictor.predict(points[next(it) % len(points)][None], np.array([1]), multimask_output=True)
        sync()

    def ours(batch: int):
        @torch.inference_mode()
        def run() -> None:
            i = next(it)
            coords = torch.as_tensor(points[[(i + k) % len(points) for k in range(batch)]], device=loaded.device)
            labels = torch.ones((batch, 1), dtype=torch.int32, device=loaded.device)
            sparse, dense = model.sam_prompt_encoder(points=(coords[:, None], labels), boxes=None, masks=None)
            masks, scores = decoder.decode_windows(model, feats[:batch], sparse, list(dense[:, None]), True)
            masks.cpu(), scores.cpu()  # the web process reads them on the host

        return run

    result = {}
    raw_ms = timed(raw, clicks)
    one = timed(ours(1), clicks)
    eight = timed(ours(8), clicks // 4)
    result["raw_predict_p50_ms"], result["raw_predict_p95_ms"] = p(raw_ms, 0.5), p(raw_ms, 0.95)
    result["decoder_p50_ms"], result["decoder_p95_ms"] = p(one, 0.5), p(one, 0.95)
    result["decoder_batch8_p50_ms"] = p(eight, 0.5)
    result["decoder_batch8_clicks_per_s"] = round(8 / p(eight, 0.5) * 1000, 1)
    # One click every 2 s per annotator: the annotators whose clicks the decoder alone keeps up with.
    result["decoder_bound_annotators"] = int(result["decoder_batch8_clicks_per_s"] * 2)
    return result


def bench_drafts(loaded, windows, size: int, budget_s: float) -> dict:
    import numpy as np
    import torch
    from affine import Affine

    from annotator.drafts.filters import FilterParams, filter_window
    from annotator.drafts.grid import point_grid
    from annotator.sam2 import features
    from annotator.sam2.encoder import encode_batch
    from annotator.sam2.windows import plan_windows

    plan = plan_windows(size, size, Affine.identity())
    # As bench/drafts.py: the untrained weights' IoU predictions sit below SAM's 0.8, and
    # with SAM's thresholds no mask would reach the stability and NMS stages being timed.
    params = FilterParams(pred_iou_thresh=0.5, stability_score_thresh=0.3, stability_score_offset=0.02)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    encode_s = decode_s = 0.0
    points = kept = done = 0
    batch = 8
    for start in range(0, len(plan), batch):
        chunk = plan[start : start + batch]
        frames = []
        for k, w in enumerate(chunk):
            frame = np.zeros_like(windows[0])
            frame[: w.height, : w.width] = windows[(start + k) % len(windows)][: w.height, : w.width]
            frames.append(frame)
        t = time.perf_counter()
        encoded = [{k: v.to("cpu", torch.float16) for k, v in f.items()} for f in encode_batch(loaded, frames)]
        encode_s += time.perf_counter() - t
        t = time.perf_counter()
        for w, tensors in zip(chunk, encoded, strict=True):
            grid = point_grid(32, w.width, w.height)
            feats = features.to_decoder_inputs(tensors, loaded.device)
            masks = filter_window(loaded, feats, grid, w.width, w.height, params)
            points += len(grid)
            kept += len(masks)
            done += 1
        decode_s += time.perf_counter() - t
        if time.perf_counter() - started > budget_s:
            break
    seconds = time.perf_counter() - started
    return {
        "image_px": f"{size} x {size}",
        "windows": len(plan),
        "windows_done": done,
        "complete": done == len(plan),
        "seconds": round(seconds, 2),
        "seconds_for_all_windows": round(seconds / done * len(plan), 1),
        "encode_seconds": round(encode_s, 2),
        "decode_filter_seconds": round(decode_s, 2),
        "points": points,
        "points_per_s": round(points / decode_s, 1),
        "masks_kept_before_merge": kept,
        "thresholds": {"pred_iou_thresh": 0.5, "stability_score_thresh": 0.3, "stability_score_offset": 0.02},
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20) if torch.cuda.is_available() else None,
    }


def run(args) -> None:
    import numpy as np
    import torch

    configure_django(args.device)
    import sam2

    from annotator.sam2 import registry

    windows = list(np.load(args.windows)["windows"])
    result: dict = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "sam2": getattr(sam2, "__version__", "1.1.0"),
        "untrained": True,
    }
    print(f"{result['device']}, torch {result['torch']}, CUDA {result['cuda']}")
    for name in args.models:
        try:
            t = time.perf_counter()
            loaded = registry.load_model(name, device=args.device)
            result[f"{name}_load_s"] = round(time.perf_counter() - t, 1)
        except Exception:
            result[f"{name}_error"] = traceback.format_exc(limit=3)
            print(result[f"{name}_error"])
            continue
        for part, call, extra in (
            ("encode", bench_encode, (args.encode_windows,)),
            ("click", bench_click, (args.clicks,)),
            ("drafts", bench_drafts, (args.drafts_size, args.drafts_budget_s)),
        ):
            if part == "drafts" and name != args.models[0]:
                continue
            try:
                result[f"{name}_{part}"] = call(loaded, windows, *extra)
            except Exception:
                result[f"{name}_{part}"] = {"error": traceback.format_exc(limit=4)}
            print(f"{name} {part}: {json.dumps(result[f'{name}_{part}'])}", flush=True)
        del loaded
        registry._cache.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("--out", type=Path, default=REPO / "var" / "gpu" / "windows.npz")
    go = sub.add_parser("run")
    go.add_argument("--windows", type=Path, default=REPO / "var" / "gpu" / "windows.npz")
    go.add_argument("--out", default="")
    go.add_argument("--device", default="cuda", help="cuda; cpu only to try the script on a small case")
    go.add_argument("--models", nargs="+", default=["sam2.1_hiera_large", "sam2.1_hiera_tiny"])
    go.add_argument("--encode-windows", type=int, default=48)
    go.add_argument("--clicks", type=int, default=200)
    go.add_argument("--drafts-size", type=int, default=10_000)
    go.add_argument("--drafts-budget-s", type=float, default=240.0)
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.out)
    else:
        run(args)


if __name__ == "__main__":
    main()
