"""Benchmark (not a test): click-to-polygon latency, against the raw decoder and a disk baseline.

Starts the real web server (gunicorn, loopback) on a throwaway database with one encoded
image, then measures in the same run:

1. ``raw``: ``SAM2ImagePredictor.predict`` (prompt encoder + mask decoder + mask upsampling)
   on the window's features already in memory, no HTTP; ``endpoint_decoder`` is the call
   the endpoint makes (prompt encoder + :mod:`annotator.sam2.decoder`), also in memory;
2. ``warm``: the full HTTP request, features already in the server's LRU;
3. ``cold``: the full HTTP request on a server whose feature cache holds nothing
   (``GEOPROMPT_SAM2_FEATURE_CACHE_BYTES=0``), so every click loads from storage;
4. ``disk_baseline``: per click, read the window's features from float32 ``.npy`` files and
   call ``SAM2ImagePredictor.predict`` (how desktop plugins do it);
5. ``load``: N simulated annotators, each clicking every 2 s for D s, on the warm server;
   every click is a new random point (no two requests alike).

Also printed: the web workers' CPU time per warm click (``server_cpu_ms_per_click``), which
bounds the clicks per second that the cores can serve; the mask → polygon stage alone on
the untrained model's masks of the bench clicks (noise: ``outline_p50_ms``) and on
object-like masks (rasterized building, field and lake outlines and a blob of 2,000 px
perimeter: ``outline_objects_p50_ms``), both against the previous pixel-mask outline and
the decoder call of the same run; the resident memory of a fresh process per model that
loads what a web worker loads (``web_rss_mib``: the decoder alone now, the whole model
before); and, with ``--profile``, the functions a warm click spends its time in (cProfile
on the endpoint's service call, in process).

Prints p50/p95 for each and, as the last line, one JSON object.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/segment.py [--annotators 30] [--duration 60] [--profile]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")
os.environ.setdefault("GEOPROMPT_SAM2_ALLOW_UNTRAINED", "true")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(name: str, values: list[float]) -> dict:
    p50, p95 = pct(values, 50), pct(values, 95)
    print(
        f"{name:<17} n={len(values):<4} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   mean {statistics.mean(values):8.1f} ms"
    )
    return {"p50": p50, "p95": p95}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, port: int, log: Path, workers: int, threads: int, tree: Path = REPO) -> subprocess.Popen:
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    log_file = open(log, "wb")  # noqa: SIM115 - the server writes to it until it is stopped
    proc = subprocess.Popen(
        [gunicorn, "backend.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads",
         str(threads), "--timeout", "120", "--keep-alive", "30"],
        cwd=tree, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the web server did not start:\n{log.read_text()[-3000:]}")


def server_cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU seconds of a gunicorn master's worker processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


RSS_SCRIPT = """
import os, sys, torch
sys.path.insert(0, {repo!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django
django.setup()
from annotator.sam2 import decoder, features
from annotator.sam2 import registry
from annotator.segment import service
loaded = registry.load_decoder({name!r}) if {part!r} == "decoder" else registry.load_model({name!r})
decoder.prepare(loaded.model)
stored = {{n: torch.zeros(s, dtype=torch.float16) for n, s in features.FEATURE_SHAPES.items()}}
window = features.to_decoder_inputs(stored)
service.run_decoder(loaded, window, [[500.0, 400.0]], [1], None, None, True)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(int(status["VmRSS"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024)
"""


def web_rss_mib(models: list[str]) -> dict:
    """Resident memory (MiB) of a fresh process per model: the decoder alone (now) or the whole model (before).

    Each process sets Django up, loads the weights (untrained when no checkpoint exists),
    and decodes one click on a window's features, as a web worker does before its first answer.
    """
    figures: dict[str, dict[str, int]] = {}
    for name in models:
        figures[name] = {}
        for part in ("whole_model", "decoder"):
            script = RSS_SCRIPT.format(repo=str(REPO), name=name, part=part)
            out = subprocess.run(
                [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True, timeout=900
            ).stdout.split()
            rss, peak = int(out[-2]), int(out[-1])
            figures[name][part] = rss
            figures[name][f"{part}_peak"] = peak
            print(f"web worker RSS, {name}, {part:<11}: {rss:6d} MiB (peak {peak} MiB)")
    return figures


def object_logits() -> list[tuple]:
    """(name, low-resolution logits [256, 256], click [1, 2] in window pixels) of object-like masks.

    Shapes rasterized in window pixels, averaged over each 4 x 4 cell and centred on 0,
    as a decoder's output looks; the blob's perimeter is ~2,000 px.
    """
    import numpy as np
    from rasterio.features import rasterize
    from shapely import affinity
    from shapely.geometry import Polygon, box

    angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)

    def wavy(cx, cy, radius, waves, depth):
        r = radius * (1 + depth * np.sin(waves * angles))
        return np.column_stack([cx + r * np.cos(angles), cy + r * np.sin(angles)])

    shapes = {
        "building": affinity.rotate(box(400, 300, 472, 341), 23, origin="centroid"),
        "field": Polygon([(120, 530), (480, 505), (530, 790), (300, 880), (95, 760)]),
        "lake": Polygon(wavy(640, 420, 190, 7, 0.12), [wavy(660, 430, 45, 3, 0.2)[::-1]]),
        "blob_2000px": Polygon(wavy(512, 512, 300, 5, 0.1)),
    }
    out = []
    for name, shape in shapes.items():
        mask = rasterize([shape], out_shape=(1024, 1024)).astype(np.float32)
        logits = np.clip(24.0 * (mask.reshape(256, 4, 256, 4).mean(axis=(1, 3)) - 0.5), -32, 32)
        point = shape.representative_point()
        out.append((name, logits.astype(np.float32), np.array([[point.x, point.y]])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=30)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rss-models", default="sam2.1_hiera_tiny,sam2.1_hiera_large")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of in-process warm clicks")
    parser.add_argument(
        "--before-tree",
        type=Path,
        help="another checkout (e.g. `git archive` of an earlier commit): its server's warm clicks are measured too",
    )
    args = parser.parse_args()

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one log line per request costs the client CPU
    work = Path(tempfile.mkdtemp(prefix="geoprompt-bench-seg-"))
    os.environ["GEOPROMPT_STORAGE_URL"] = str(work / "storage")

    import django

    django.setup()
    import httpx
    import numpy as np
    import torch
    from affine import Affine
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from pyproj import Transformer
    from rest_framework.authtoken.models import Token
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    from annotator.choices import Role
    from annotator.imagery import ingest as imagery
    from annotator.models import FeatureTile, Image, Membership, Project
    from annotator.sam2 import encoding, features
    from annotator.sam2 import registry as sam2_models
    from annotator.segment import outline
    from annotator.segment import service as segment
    from annotator.storage import get_storage

    settings.SAM2_ALLOW_UNTRAINED = True
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    servers: list[subprocess.Popen] = []
    try:
        user = get_user_model().objects.create_user("bench", password=None)
        token = Token.objects.create(user=user).key
        project = Project.objects.create(name="bench")
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        image = Image.objects.create(project=project, name="naip.tif")
        image.original_key = f"{image.storage_prefix}/original.tif"
        get_storage().put_file(REPO / "fixtures" / "rasters" / "naip_rgbn_utm14_2020.tif", image.original_key)
        image.save()
        imagery.ingest_image(image)
        encoding.encode_image(image)
        image.refresh_from_db()
        (tile,) = FeatureTile.objects.filter(image=image)

        rng = np.random.default_rng(11)
        pixels = rng.uniform([60, 60], [image.width - 60, image.height - 60], size=(args.clicks, 2))
        to_crs = Affine.from_gdal(*image.geotransform)
        to_4326 = Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True)
        clicks = [list(to_4326.transform(*(to_crs @ (float(c), float(r))))) for c, r in pixels]
        loaded = sam2_models.load_model(project.sam2_model)
        print(
            f"image {image.width} x {image.height} px, 1 window; model {loaded.name} (untrained={loaded.untrained}); "
            f"torch threads {torch.get_num_threads()}; server: gunicorn {args.workers} workers x {args.threads} threads"
        )

        # 1. raw: the predictor on in-memory features.
        feats = features.to_decoder_inputs(features.load_window_tensors(tile.storage_key))
        predictor = SAM2ImagePredictor(loaded.model)
        predictor._features = {"image_embed": feats.image_embed, "high_res_feats": feats.high_res_feats}
        predictor._orig_hw = [(1024, 1024)]
        predictor._is_image_set = True
        raw, endpoint_decoder, noise_logits = [], [], []
        for c, r in [*pixels[:3], *pixels]:
            t = time.perf_counter()
            predictor.predict(np.array([[c, r]]), np.array([1]), multimask_output=True)
            raw.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            low_res, scores = segment.run_decoder(loaded, feats, np.array([[c, r]]), np.array([1]), None, None, True)
            endpoint_decoder.append((time.perf_counter() - t) * 1000)
            noise_logits.append((low_res[int(np.argmax(scores))].numpy(), np.array([[c, r]])))
        raw, endpoint_decoder, noise_logits = raw[3:], endpoint_decoder[3:], noise_logits[3:]

        # The mask → polygon stage alone, as the endpoint calls it (the page's simplify_px 1.0,
        # the annotation vertex limit), now (the logits traced) and before (the upsampled mask).
        def outline_times(cases: list) -> tuple[list[float], list[float], list[int]]:
            now, before, vertices = [], [], []
            for logits, click in cases:
                t = time.perf_counter()
                shape = outline.logits_outline(logits, tile.width, tile.height, click, None, 1.0, 16, 10_000)
                now.append((time.perf_counter() - t) * 1000)
                vertices.append(shape.vertices)
                t = time.perf_counter()
                mask = segment.upsample(torch.from_numpy(logits)[None], tile.width, tile.height)[0]
                outline.mask_outline(mask, click, None, 1.0, 16, 10_000)
                before.append((time.perf_counter() - t) * 1000)
            return now, before, vertices

        outline_noise, outline_noise_before, noise_vertices = outline_times(noise_logits)
        objects = object_logits()
        outline_objects, outline_objects_before, object_vertices = outline_times(
            [(logits, click) for _, logits, click in objects] * 10
        )
        noise_fill = statistics.median(float((logits > 0).mean()) for logits, _ in noise_logits)

        # 4. disk baseline: float32 .npy files re-read on every click.
        npy = work / "npy"
        npy.mkdir()
        np.save(npy / "image_embed.npy", feats.image_embed.numpy().astype(np.float32))
        np.save(npy / "high_res_0.npy", feats.high_res_feats[0].numpy().astype(np.float32))
        np.save(npy / "high_res_1.npy", feats.high_res_feats[1].numpy().astype(np.float32))
        disk = []
        for c, r in [*pixels[:3], *pixels]:
            t = time.perf_counter()
            embed = torch.from_numpy(np.load(npy / "image_embed.npy", allow_pickle=False))
            high = [torch.from_numpy(np.load(npy / f"high_res_{i}.npy", allow_pickle=False)) for i in (0, 1)]
            predictor._features = {"image_embed": embed, "high_res_feats": high}
            predictor.predict(np.array([[c, r]]), np.array([1]), multimask_output=True)
            disk.append((time.perf_counter() - t) * 1000)
        disk = disk[3:]

        s = connection.settings_dict
        env = {
            **os.environ,
            "GEOPROMPT_DATABASE_URL": (
                f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
            ),
            "GEOPROMPT_STORAGE_URL": str(work / "storage"),
            "GEOPROMPT_REDIS_URL": settings.REDIS_URL,
            "GEOPROMPT_SAM2_ALLOW_UNTRAINED": "true",
        }
        url_path = f"/api/v1/images/{image.pk}/segment"
        headers = {"Authorization": f"Token {token}"}

        def timed_requests(port: int, points: list, warmup: int) -> tuple[list[float], list[dict]]:
            out, bodies = [], []
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
                for i, point in enumerate([*points[:warmup], *points]):
                    t = time.perf_counter()
                    response = client.post(url_path, json={"positive": [point]})
                    elapsed = (time.perf_counter() - t) * 1000
                    response.raise_for_status()
                    if i >= warmup:
                        out.append(elapsed)
                        bodies.append(response.json()["properties"]["timing_ms"])
            return out, bodies

        def warm_up(port: int, points: list, workers: int) -> None:
            """Concurrent connections, so that every worker process loads the model and the features."""

            def one(offset: int) -> None:
                timed_requests(port, points[offset : offset + 3], warmup=0)

            pool = [threading.Thread(target=one, args=(i,)) for i in range(4 * workers)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()

        # 2. warm server.
        warm_port = free_port()
        servers.append(start_server(env, warm_port, work / "warm.log", args.workers, args.threads))
        warm_up(warm_port, clicks, args.workers)
        cpu_before = server_cpu_seconds(servers[-1])
        warm, warm_timing = timed_requests(warm_port, clicks, warmup=0)
        server_cpu_ms = (server_cpu_seconds(servers[-1]) - cpu_before) * 1000 / len(clicks)

        # 2b. the same warm clicks on a server of the earlier checkout, in this run.
        before = None
        if args.before_tree:
            before_port = free_port()
            before_server = start_server(
                env, before_port, work / "before.log", args.workers, args.threads, args.before_tree.resolve()
            )
            servers.append(before_server)
            warm_up(before_port, clicks, args.workers)
            cpu_start = server_cpu_seconds(before_server)
            before_warm, before_timing = timed_requests(before_port, clicks, warmup=0)
            before_cpu_ms = (server_cpu_seconds(before_server) - cpu_start) * 1000 / len(clicks)
            servers.remove(before_server)
            before_server.terminate()
            before_server.wait(20)

        # 3. cold server: an LRU of zero bytes keeps nothing.
        cold_port = free_port()
        servers.append(
            start_server(
                {**env, "GEOPROMPT_SAM2_FEATURE_CACHE_BYTES": "0"}, cold_port, work / "cold.log", 1, args.threads
            )
        )
        cold, cold_timing = timed_requests(cold_port, clicks[:20], warmup=2)
        servers.pop().terminate()

        # 5. load: annotators clicking every interval on the warm server, each click a new point.
        load_pixels = rng.uniform([60, 60], [image.width - 60, image.height - 60], size=(4000, 2))
        load_clicks = [list(to_4326.transform(*(to_crs @ (float(c), float(r))))) for c, r in load_pixels]
        next_load_click = iter(range(len(load_clicks)))
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        start_at = time.monotonic() + 1.0

        def annotator(index: int) -> None:
            local_rng = np.random.default_rng(100 + index)
            with httpx.Client(base_url=f"http://127.0.0.1:{warm_port}", headers=headers, timeout=30) as client:
                next_click = start_at + local_rng.uniform(0, args.interval)
                while next_click < start_at + args.duration:
                    time.sleep(max(0.0, next_click - time.monotonic()))
                    with lock:
                        point = load_clicks[next(next_load_click)]
                    t = time.perf_counter()
                    try:
                        response = client.post(url_path, json={"positive": [point]})
                        ok = response.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    elapsed = (time.perf_counter() - t) * 1000
                    with lock:
                        latencies.append(elapsed)
                        errors[0] += 0 if ok else 1
                    next_click += args.interval

        threads = [threading.Thread(target=annotator, args=(i,)) for i in range(args.annotators)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        if args.profile:
            # The whole request in process (middleware, auth, DRF, the service, JSON): where a warm click's time goes.
            import cProfile
            import pstats

            from django.test import Client

            client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")

            def click(point: list) -> None:
                response = client.post(url_path, data={"positive": [point]}, content_type="application/json")
                assert response.status_code == 200, response.content[:300]

            for point in clicks[:3]:
                click(point)
            profiler = cProfile.Profile()
            profiler.enable()
            for point in clicks:
                click(point)
            profiler.disable()
            print(f"cProfile of {len(clicks)} warm clicks in process (Django test client), by own time:")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(20)
        connection.creation.destroy_test_db(db_name, verbosity=0)
        shutil.rmtree(work, ignore_errors=True)

    rss = web_rss_mib([name for name in args.rss_models.split(",") if name])
    print("latency per click (ms):")
    r = summary("raw", raw)
    rd = summary("endpoint_decoder", endpoint_decoder)
    w = summary("warm", warm)
    c = summary("cold", cold)
    d = summary("disk_baseline", disk)
    ld = summary("load", latencies)
    if args.before_tree:
        before = summary("warm_before", before_warm)
        print(
            "server-side split, warm before, p50 ms: "
            + ", ".join(
                f"{k} {statistics.median(t[k] for t in before_timing):.1f}" for k in ("load", "decode", "polygonize")
            )
        )
        print(f"web workers' CPU per warm click, before: {before_cpu_ms:.1f} ms")
    print(
        "server-side split, warm p50 ms: "
        + ", ".join(f"{k} {statistics.median(t[k] for t in warm_timing):.1f}" for k in ("load", "decode", "polygonize"))
    )
    print(
        "server-side split, cold p50 ms: "
        + ", ".join(f"{k} {statistics.median(t[k] for t in cold_timing):.1f}" for k in ("load", "decode", "polygonize"))
    )
    print(f"web workers' CPU per warm click: {server_cpu_ms:.1f} ms")
    print(f"outline stage (ms), the untrained model's masks (median {noise_fill:.0%} of the window on):")
    on = summary("outline_noise", outline_noise)
    ob = summary("outline_noise_before", outline_noise_before)
    print(f"  vertices p50 {statistics.median(noise_vertices):.0f}")
    print("outline stage (ms), object-like masks (" + ", ".join(name for name, _, _ in objects) + "):")
    oo = summary("outline_objects", outline_objects)
    oob = summary("objects_before", outline_objects_before)
    print(f"  vertices p50 {statistics.median(object_vertices):.0f}")
    blob = outline_objects[len(objects) - 1 :: len(objects)]
    print(f"  the 2,000 px perimeter blob alone: p50 {statistics.median(blob):.2f} ms")
    print(
        f"load: {args.annotators} annotators x 1 click / {args.interval:g} s for {args.duration:g} s: "
        f"{len(latencies)} requests, {errors[0]} errors"
    )
    result = {
        "raw_p50_ms": round(r["p50"], 2),
        "raw_p95_ms": round(r["p95"], 2),
        "endpoint_decoder_p50_ms": round(rd["p50"], 2),
        "warm_p50_ms": round(w["p50"], 2),
        "warm_p95_ms": round(w["p95"], 2),
        "cold_p50_ms": round(c["p50"], 2),
        "cold_p95_ms": round(c["p95"], 2),
        "disk_baseline_p50_ms": round(d["p50"], 2),
        "disk_baseline_p95_ms": round(d["p95"], 2),
        "warm_over_raw": round(w["p50"] / r["p50"], 4),
        "warm_over_endpoint_decoder": round(w["p50"] / rd["p50"], 4),
        "server_cpu_ms_per_click": round(server_cpu_ms, 1),
        "cold_over_warm": round(c["p50"] / w["p50"], 4),
        "disk_baseline_over_warm": round(d["p50"] / w["p50"], 4),
        "load_p50_ms": round(ld["p50"], 2),
        "load_p95_ms": round(ld["p95"], 2),
        "load_requests": len(latencies),
        "load_errors": errors[0],
        "annotators": args.annotators,
        "untrained": True,
        "outline_p50_ms": round(on["p50"], 2),
        "outline_p95_ms": round(on["p95"], 2),
        "outline_before_p50_ms": round(ob["p50"], 2),
        "outline_over_endpoint_decoder": round(on["p50"] / rd["p50"], 4),
        "outline_objects_p50_ms": round(oo["p50"], 2),
        "outline_objects_before_p50_ms": round(oob["p50"], 2),
        "outline_blob_2000px_p50_ms": round(statistics.median(blob), 2),
        "web_rss_mib": rss,
    }
    if before is not None:
        result["before_warm_p50_ms"] = round(before["p50"], 2)
        result["before_warm_over_raw"] = round(before["p50"] / r["p50"], 4)
        result["before_server_cpu_ms_per_click"] = round(before_cpu_ms, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
