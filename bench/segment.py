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
   every click is a new random point (no two requests alike);
6. ``local_cold`` / ``s3_cold``: the cold click (LRU of zero bytes) with the features on local
   disk against the same objects copied into an S3-compatible bucket (moto's server process
   on loopback, ``tests/support/s3.py``), one server each with its own empty temp folder,
   requests alternated between the two so both see the same load (``s3_cold_over_local_cold``,
   goal ≤ 2);
7. ``large_warm``: a ``--large-size``² px image (the reference scene repeated, written block by
   block), ingested, with only ``--large-windows`` level-0 windows encoded
   (:func:`annotator.sam2.encoding.encode_windows`) and clicked in, alternated on the warm
   server with clicks on the one-window image (``large_over_small_warm``, goal ≤ 1.10);
8. ``capacity_annotators``: the most annotators (one click / 2 s each) served at p95 ≤ 400 ms
   with no error, by doubling then bisecting N with ``--capacity-phase`` s phases within
   ``--capacity-budget`` s (``--no-capacity`` skips it).

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
        [--large-size 20000] [--no-s3] [--no-capacity]

The JSON also holds ``machine``: cores, CPU model and load average at the start and the end.
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
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")
os.environ.setdefault("GEOPROMPT_SAM2_ALLOW_UNTRAINED", "true")

from bench.rasters import write_large_raster  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(name: str, values: list[float]) -> dict:
    p50, p95 = pct(values, 50), pct(values, 95)
    print(
        f"{name:<17} n={len(values):<4} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   mean {statistics.mean(values):8.1f} ms"
    )
    return {"p50": p50, "p95": p95}


def bench_annotator(name: str = "bench"):
    """A project and an annotator of it (no password): ``(project, API token)``."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from annotator.choices import Role
    from annotator.models import Membership, Project

    user = get_user_model().objects.create_user(name, password=None)
    project = Project.objects.create(name=name)
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    return project, Token.objects.create(user=user).key


def encode_reference_image(project, name: str = "naip.tif"):
    """The reference scene (``fixtures/rasters/naip_rgbn_utm14_2020.tif``, 934 x 723 px, one window)
    as an image of ``project``: stored, ingested and encoded in this process; returns the row."""
    from annotator.imagery import ingest as imagery
    from annotator.models import Image
    from annotator.sam2 import encoding
    from annotator.storage import get_storage

    image = Image.objects.create(project=project, name=name)
    image.original_key = f"{image.storage_prefix}/original.tif"
    get_storage().put_file(REPO / "fixtures" / "rasters" / "naip_rgbn_utm14_2020.tif", image.original_key)
    image.save()
    imagery.ingest_image(image)
    encoding.encode_image(image)
    image.refresh_from_db()
    return image


def server_env(storage_root: Path) -> dict[str, str]:
    """The environment of a web server started by the bench: this process's test database,
    storage root and Redis, untrained weights allowed."""
    from django.conf import settings
    from django.db import connection

    s = connection.settings_dict
    return {
        **os.environ,
        "GEOPROMPT_DATABASE_URL": f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        "GEOPROMPT_STORAGE_URL": str(storage_root),
        "GEOPROMPT_REDIS_URL": settings.REDIS_URL,
        "GEOPROMPT_SAM2_ALLOW_UNTRAINED": "true",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The web server's settings before backend/gunicorn.conf.py: 2 processes of 4 request
# threads, keep-alive connections, no limit on the connections a process takes.
EARLIER_SERVER = ["--workers", "2", "--threads", "4", "--timeout", "120", "--keep-alive", "30"]


def start_server(
    env: dict, port: int, log: Path, workers: int | None, threads: int | None, tree: Path = REPO,
    earlier: bool = False,
) -> subprocess.Popen:  # fmt: skip
    """gunicorn as deployed (``backend/gunicorn.conf.py``; ``workers``/``threads`` None: its defaults).

    ``earlier`` (or a ``tree`` without the config file) starts it with :data:`EARLIER_SERVER` instead.
    """
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    log_file = open(log, "wb")  # noqa: SIM115 - the server writes to it until it is stopped
    if earlier or not (tree / "backend" / "gunicorn.conf.py").exists():
        command = [gunicorn, "backend.wsgi", "--bind", f"127.0.0.1:{port}", *EARLIER_SERVER]
    else:
        command = [gunicorn, "-c", "backend/gunicorn.conf.py", "backend.wsgi"]
        env = {**env, "GEOPROMPT_WEB_BIND": f"127.0.0.1:{port}"}
        for name, value in (("GEOPROMPT_WEB_WORKERS", workers), ("GEOPROMPT_WEB_THREADS", threads)):
            if value is not None:
                env[name] = str(value)
    proc = subprocess.Popen(
        command, cwd=tree, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the web server did not start:\n{log.read_text()[-3000:]}")


def worker_pids(proc: subprocess.Popen) -> list[str]:
    return Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """{pid: (group, user + system CPU seconds)} of every process (Linux /proc), grouped by what it is."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid = int(entry.name)
        if pid == os.getpid():
            group = "bench_client"
        elif "gunicorn" in command:
            group = "web"
        elif command.startswith("postgres"):
            group = "postgres"
        elif "redis" in command:
            group = "redis"
        else:
            group = "other"
        out[pid] = (group, (int(fields[11]) + int(fields[12])) / tick)
    return out


def cpu_ms_per_click(before: dict, after: dict, clicks: int) -> dict[str, float]:
    """CPU ms per click by process group between two :func:`cpu_by_process` readings."""
    groups: dict[str, float] = {}
    for pid, (group, seconds) in after.items():
        groups[group] = groups.get(group, 0.0) + seconds - before.get(pid, (group, 0.0))[1]
    return {group: round(1000 * seconds / max(1, clicks), 1) for group, seconds in sorted(groups.items())}


def worker_memory(proc: subprocess.Popen) -> list[dict[str, int]]:
    """Resident memory (MiB) of a running gunicorn's workers: RSS, anonymous, proportional share (PSS)."""
    out = []
    for pid in worker_pids(proc):
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        rollup = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
        out.append({
            "rss": int(status["VmRSS"].split()[0]) // 1024,
            "anon": int(status["RssAnon"].split()[0]) // 1024,
            "pss": int(rollup["Pss"].split()[0]) // 1024,
        })  # fmt: skip
    return out


def server_cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU seconds of a gunicorn master's worker processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in worker_pids(proc):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


RSS_SCRIPT = """
import os, sys, torch
sys.path.insert(0, {repo!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django
django.setup()
import backend.urls  # every view's imports, as a web worker has them after its first request
from annotator.sam2 import decoder, features
from annotator.sam2 import registry
from annotator.segment import service
loaded = registry.load_decoder({name!r}) if {part!r} == "decoder" else registry.load_model({name!r})
decoder.prepare(loaded.model)
stored = {{n: torch.zeros(s, dtype=torch.float16) for n, s in features.FEATURE_SHAPES.items()}}
window = features.to_decoder_inputs(stored)
service.run_decoder(loaded, window, [[500.0, 400.0]], [1], None, None, True)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
rollup = dict(line.split(":", 1) for line in open("/proc/self/smaps_rollup").read().splitlines()[1:])
print(*(int(d[k].split()[0]) // 1024 for d, k in
        ((status, "RssAnon"), (rollup, "Pss"), (status, "VmRSS"), (status, "VmHWM"))))
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
            anon, pss, rss, peak = (int(v) for v in out[-4:])
            figures[name][part] = rss
            figures[name][f"{part}_peak"] = peak
            # RSS counts the shared libraries' pages (libtorch: ~420 MiB) that every process on
            # the machine maps once; anonymous memory is what each further worker costs.
            figures[name][f"{part}_anon"] = anon
            figures[name][f"{part}_pss"] = pss
            print(
                f"web worker RSS, {name}, {part:<11}: {rss:6d} MiB (peak {peak} MiB; anonymous {anon} MiB, "
                f"PSS {pss} MiB)"
            )
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


def machine() -> dict:
    """The machine the figures come from: cores, CPU model, load average (1, 5, 15 min)."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown",
    )
    return {"nproc": os.cpu_count(), "cpu_model": model, "loadavg": [float(v) for v in os.getloadavg()]}


def server_timing(header: str) -> dict[str, float]:
    """``Server-Timing: load;dur=0.1, decode;dur=43.2, …`` → {name: ms}."""
    parts = (part.strip().split(";dur=") for part in header.split(",") if ";dur=" in part)
    return {name: float(value) for name, value in parts}


def split_summary(splits: list[dict]) -> dict[str, dict[str, float]]:
    """p50 and p95 (ms) of each part of the server splits that :func:`run_load` collected."""
    return {
        name: {"p50": round(pct(values, 50), 1), "p95": round(pct(values, 95), 1)}
        for name in ("view", "segment", "decode", "polygonize", "outside_view")
        if (values := [split[name] for split in splits if name in split])
    }


def warm_up(port: int, url_path: str, headers: dict, points: list, connections: int) -> None:
    """``connections`` concurrent connections of 3 clicks each, so that every web worker loads the decoder
    and the window's features before anything is timed."""
    import httpx

    def three(offset: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
            for point in points[offset : offset + 3]:
                client.post(url_path, json={"positive": [point]}).raise_for_status()

    pool = [threading.Thread(target=three, args=(3 * i % max(1, len(points)),)) for i in range(connections)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def run_load(
    port: int, url_path: str, headers: dict, clicks: list, annotators: int, duration: float, interval: float,
    splits: list[dict] | None = None,
) -> tuple[list[float], int]:  # fmt: skip
    """``annotators`` threads, each clicking every ``interval`` s for ``duration`` s; every click a new point.

    Returns the latencies (ms) of every request and the number of errors (non-200 or no answer).
    With ``splits``, appends each answered click's server split (its ``Server-Timing``) and
    ``outside_view``: the latency less the view's time (the wait for a free worker, the
    connection, the request's reading and writing).
    """
    import httpx
    import numpy as np

    counter = iter(range(10**9))
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_at = time.monotonic() + 1.0

    def annotator(index: int) -> None:
        local_rng = np.random.default_rng(100 + index)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
            next_click = start_at + local_rng.uniform(0, interval)
            while next_click < start_at + duration:
                time.sleep(max(0.0, next_click - time.monotonic()))
                with lock:
                    point = clicks[next(counter) % len(clicks)]
                t = time.perf_counter()
                try:
                    response = client.post(url_path, json={"positive": [point]})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - t) * 1000
                split = server_timing(response.headers.get("server-timing", "")) if ok else {}
                with lock:
                    latencies.append(elapsed)
                    errors[0] += 0 if ok else 1
                    if splits is not None and "view" in split:
                        splits.append({**split, "outside_view": elapsed - split["view"]})
                next_click += interval

    threads = [threading.Thread(target=annotator, args=(i,)) for i in range(annotators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def find_capacity(
    load: Callable[[int], tuple[list[float], int]], p95_goal_ms: float, max_annotators: int, budget_s: float
) -> tuple[int, list[dict]]:
    """The largest N whose load phase (``load(N)``) has p95 ≤ ``p95_goal_ms`` and no error.

    Doubles N from 1 until a phase fails (or ``max_annotators``), then bisects between the
    last passing and the first failing N; stops early once ``budget_s`` seconds are spent
    (the answer is then the largest N seen passing). Returns it (0 when even one annotator
    is served too slowly) and every step.
    """
    started = time.monotonic()
    steps: list[dict] = []

    def passes(n: int) -> bool:
        latencies, errors = load(n)
        p95 = pct(latencies, 95) if latencies else float("inf")
        ok = bool(latencies) and errors == 0 and p95 <= p95_goal_ms
        steps.append({"annotators": n, "requests": len(latencies), "errors": errors, "p95_ms": round(p95, 1), "ok": ok})
        verdict = "pass" if ok else "fail"
        print(
            f"capacity step: {n:3d} annotators, {len(latencies):4d} requests, {errors} errors, "
            f"p95 {p95:8.1f} ms: {verdict}"
        )
        return ok

    good, bad = 0, None
    n = 1
    while n <= max_annotators and time.monotonic() - started < budget_s:
        if not passes(n):
            bad = n
            break
        good = n
        n *= 2
    if bad is None and good < max_annotators and time.monotonic() - started < budget_s and passes(max_annotators):
        good = max_annotators
    bad = bad if bad is not None else max_annotators + 1
    while bad - good > 1 and time.monotonic() - started < budget_s:
        middle = (good + bad) // 2
        if passes(middle):
            good = middle
        else:
            bad = middle
    return good, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=30)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--workers", type=int, default=None, help="web workers (default: backend/gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=None, help="threads per web worker (default: the config's)")
    parser.add_argument("--rss-models", default="sam2.1_hiera_tiny,sam2.1_hiera_large")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of in-process warm clicks")
    parser.add_argument("--large-size", type=int, default=20_000, help="side (px) of the large image; 0 skips it")
    parser.add_argument("--large-windows", type=int, default=3, help="level-0 windows of the large image clicked in")
    parser.add_argument("--no-s3", action="store_true", help="skip the cold click with features in S3")
    parser.add_argument("--no-capacity", action="store_true", help="skip the search for the capacity")
    parser.add_argument("--capacity-phase", type=float, default=15.0, help="seconds of each capacity step")
    parser.add_argument("--capacity-max", type=int, default=64)
    parser.add_argument("--capacity-budget", type=float, default=300.0, help="seconds the capacity search may take")
    parser.add_argument(
        "--before-tree",
        type=Path,
        help="another checkout (e.g. `git archive` of an earlier commit): its server's warm clicks are measured too",
    )
    parser.add_argument(
        "--compare-annotators",
        type=int,
        default=0,
        help="annotators of a load run in turns on the earlier checkout's server (with --before-tree), "
        "this checkout under the web server's earlier settings (2 workers x 4 threads, keep-alive), and this "
        "checkout as deployed; 0 skips it",
    )
    parser.add_argument("--compare-duration", type=float, default=20.0)
    parser.add_argument("--compare-rounds", type=int, default=2)
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
    from django.db import connection
    from pyproj import Transformer
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    from annotator.choices import ImageStatus
    from annotator.imagery import ingest as imagery
    from annotator.models import FeatureTile, Image
    from annotator.sam2 import encoding, features
    from annotator.sam2 import registry as sam2_models
    from annotator.sam2.threads import configure_torch_threads
    from annotator.segment import outline
    from annotator.segment import service as segment
    from annotator.storage import get_storage

    settings.SAM2_ALLOW_UNTRAINED = True
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    servers: list[subprocess.Popen] = []
    s3_server = None
    try:
        project, token = bench_annotator()
        image = encode_reference_image(project)
        (tile,) = FeatureTile.objects.filter(image=image)
        host = machine()
        print(f"machine: {host['nproc']} cores, {host['cpu_model']}, load average {host['loadavg']}")

        # The large image: the reference scene repeated to large_size² px, ingested, and only
        # the level-0 windows holding the clicks encoded (every window would take hours on CPU).
        large = None
        if args.large_size:
            t = time.monotonic()
            large = Image.objects.create(project=project, name="large.tif")
            large.original_key = f"{large.storage_prefix}/original.tif"
            big = write_large_raster(
                REPO / "fixtures" / "rasters" / "naip_rgbn_utm14_2020.tif", work / "large.tif", args.large_size
            )
            get_storage().put_file(big, large.original_key)
            big.unlink()
            large.save()
            imagery.ingest_image(large)
            large.refresh_from_db()
            ingest_s = time.monotonic() - t
            level0 = [w for w in encoding.image_windows(large) if w.level == 0]
            # Windows spread over the image (first, evenly between, last), so the clicks land far apart.
            picks = sorted(
                {round(i * (len(level0) - 1) / max(1, args.large_windows - 1)) for i in range(args.large_windows)}
            )
            large_windows = [level0[i] for i in picks]
            t = time.monotonic()
            encoded_large = encoding.encode_windows(large, large_windows)
            encode_large_s = time.monotonic() - t
            assert FeatureTile.objects.filter(image=large).count() == len(large_windows)
            # The endpoint serves only images whose whole plan is stored; the bench clicks only
            # inside the stored windows, so it marks this one encoded.
            Image.objects.filter(pk=large.pk).update(status=ImageStatus.ENCODED)
            large_rng = np.random.default_rng(12)
            large_to_crs = Affine.from_gdal(*large.geotransform)
            large_to_4326 = Transformer.from_crs(large.crs_wkt, "EPSG:4326", always_xy=True)
            large_clicks = []
            for i in range(args.clicks):
                # Click i in window i mod k, so consecutive clicks change window (as a warm-up must).
                w = large_windows[i % len(large_windows)]
                c, r = large_rng.uniform(
                    [w.src_col_off + 60, w.src_row_off + 60],
                    [w.src_col_off + w.src_width - 60, w.src_row_off + w.src_height - 60],
                )
                large_clicks.append(list(large_to_4326.transform(*(large_to_crs @ (float(c), float(r))))))
            print(
                f"large image {large.width} x {large.height} px, {encoded_large.windows} windows in its plan at "
                f"{encoded_large.levels} levels; {len(large_windows)} level-0 windows encoded "
                f"({', '.join(w.key for w in large_windows)}); build + upload + ingest {ingest_s:.0f} s, "
                f"encode {encode_large_s:.0f} s"
            )

        rng = np.random.default_rng(11)
        pixels = rng.uniform([60, 60], [image.width - 60, image.height - 60], size=(args.clicks, 2))
        to_crs = Affine.from_gdal(*image.geotransform)
        to_4326 = Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True)
        clicks = [list(to_4326.transform(*(to_crs @ (float(c), float(r))))) for c, r in pixels]
        loaded = sam2_models.load_model(project.sam2_model)
        # In process as in a web worker: torch on GEOPROMPT_TORCH_THREADS threads.
        configure_torch_threads(settings.TORCH_THREADS)
        print(
            f"image {image.width} x {image.height} px, 1 window; model {loaded.name} (untrained={loaded.untrained}); "
            f"torch threads {torch.get_num_threads()}; server: gunicorn -c backend/gunicorn.conf.py, workers "
            f"{args.workers or 'default'}, threads {args.threads or 'default'}"
        )

        # 1. raw: the predictor on in-memory features.
        feats = features.to_decoder_inputs(features.load_window_tensors(tile.storage_key))
        predictor = SAM2ImagePredictor(loaded.model)
        predictor._features = {"image_embed": feats.image_embed, "high_res_feats": feats.high_res_feats}
        predictor._orig_hw = [(1024, 1024)]
        predictor._is_image_set = True
        raw, endpoint_decoder, noise_logits = [], [], []
        # The earlier checkout's decoder module, on the same click right after this one's (CPU time too).
        old_decoder = None
        if args.before_tree:
            import importlib.util

            spec = importlib.util.spec_from_file_location(
                "decoder_before", args.before_tree.resolve() / "annotator" / "sam2" / "decoder.py"
            )
            old_decoder = importlib.util.module_from_spec(spec)
            sys.modules["decoder_before"] = old_decoder  # its dataclasses look their module up
            spec.loader.exec_module(old_decoder)
        decoder_cpu, decoder_before, decoder_before_cpu = [], [], []
        for c, r in [*pixels[:3], *pixels]:
            t = time.perf_counter()
            predictor.predict(np.array([[c, r]]), np.array([1]), multimask_output=True)
            raw.append((time.perf_counter() - t) * 1000)
            t, cpu = time.perf_counter(), time.process_time()
            low_res, scores = segment.run_decoder(loaded, feats, np.array([[c, r]]), np.array([1]), None, None, True)
            endpoint_decoder.append((time.perf_counter() - t) * 1000)
            decoder_cpu.append((time.process_time() - cpu) * 1000)
            noise_logits.append((low_res[int(np.argmax(scores))].numpy(), np.array([[c, r]])))
            if old_decoder is not None:
                with torch.inference_mode():
                    coords = torch.tensor([[[c, r]]], dtype=torch.float32)
                    sparse, dense = loaded.model.sam_prompt_encoder(
                        points=(coords, torch.ones((1, 1), dtype=torch.int32)), boxes=None, masks=None
                    )
                    t, cpu = time.perf_counter(), time.process_time()
                    old_decoder.decode(loaded.model, feats.image_embed, feats.high_res_feats, sparse, dense, True)
                    decoder_before.append((time.perf_counter() - t) * 1000)
                    decoder_before_cpu.append((time.process_time() - cpu) * 1000)
        raw, endpoint_decoder, noise_logits = raw[3:], endpoint_decoder[3:], noise_logits[3:]
        decoder_cpu, decoder_before, decoder_before_cpu = decoder_cpu[3:], decoder_before[3:], decoder_before_cpu[3:]

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

        env = server_env(work / "storage")
        url_path = f"/api/v1/images/{image.pk}/segment"
        headers = {"Authorization": f"Token {token}"}

        def timed_requests(
            port: int, points: list, warmup: int, path: str = url_path
        ) -> tuple[list[float], list[dict]]:
            out, bodies = [], []
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
                for i, point in enumerate([*points[:warmup], *points]):
                    t = time.perf_counter()
                    response = client.post(path, json={"positive": [point]})
                    elapsed = (time.perf_counter() - t) * 1000
                    response.raise_for_status()
                    if i >= warmup:
                        out.append(elapsed)
                        bodies.append(response.json()["properties"]["timing_ms"])
            return out, bodies

        # 2. warm server.
        web_workers = args.workers or (os.cpu_count() or 1) + 1
        warm_port = free_port()
        servers.append(start_server(env, warm_port, work / "warm.log", args.workers, args.threads))
        warm_up(warm_port, url_path, headers, clicks, 4 * web_workers)
        cpu_before = server_cpu_seconds(servers[-1])
        warm, warm_timing = timed_requests(warm_port, clicks, warmup=0)
        server_cpu_ms = (server_cpu_seconds(servers[-1]) - cpu_before) * 1000 / len(clicks)

        paired_split: list[tuple[list[dict], list[dict]]] = []

        def paired(ports: tuple[int, int], paths: tuple[str, str], points: tuple[list, list], warmup: int):
            """Alternate one request to each (port, path), so both see the same load moment by moment."""
            out: tuple[list[float], list[float]] = ([], [])
            split: tuple[list[dict], list[dict]] = ([], [])
            with (
                httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", headers=headers, timeout=60) as first,
                httpx.Client(base_url=f"http://127.0.0.1:{ports[1]}", headers=headers, timeout=60) as second,
            ):
                for i in range(len(points[0]) + warmup):
                    for side, client in enumerate((first, second)):
                        point = points[side][i % len(points[side])]
                        t = time.perf_counter()
                        response = client.post(paths[side], json={"positive": [point]})
                        elapsed = (time.perf_counter() - t) * 1000
                        response.raise_for_status()
                        if i >= warmup:
                            out[side].append(elapsed)
                            split[side].append(response.json()["properties"])
            paired_split.append(split)
            return out

        # 2c. warm clicks on the large image against the one-window image, alternated on the warm server.
        if large is not None:
            large_path = f"/api/v1/images/{large.pk}/segment"
            warm_up(warm_port, large_path, headers, large_clicks, 4 * web_workers)
            small_paired, large_warm = paired(
                (warm_port, warm_port), (url_path, large_path), (clicks, large_clicks), warmup=3
            )

        # 2b. the same warm clicks on a server of the earlier checkout, in this run, alternated
        # one by one with this checkout's warm server (both see the same load moment by moment).
        before = None
        variants: dict[str, tuple[int, subprocess.Popen]] = {}
        if args.before_tree:
            before_port = free_port()
            before_server = start_server(
                env, before_port, work / "before.log", args.workers, args.threads, args.before_tree.resolve()
            )
            servers.append(before_server)
            warm_up(before_port, url_path, headers, clicks, 4 * web_workers)
            cpu_start = [server_cpu_seconds(before_server), server_cpu_seconds(servers[0])]
            before_warm, after_paired = paired((before_port, warm_port), (url_path, url_path), (clicks, clicks), 0)
            before_timing, after_paired_timing = ([p["timing_ms"] for p in side] for side in paired_split.pop())
            before_cpu_ms = (server_cpu_seconds(before_server) - cpu_start[0]) * 1000 / len(clicks)
            after_paired_cpu_ms = (server_cpu_seconds(servers[0]) - cpu_start[1]) * 1000 / len(clicks)
            variants["before"] = (before_port, before_server)
        if args.compare_annotators:
            # This checkout under the web server's earlier settings (2 x 4 threads, keep-alive).
            earlier_port = free_port()
            servers.append(start_server(env, earlier_port, work / "earlier.log", None, None, earlier=True))
            warm_up(earlier_port, url_path, headers, clicks, 8)
            variants["earlier_server"] = (earlier_port, servers[-1])
        variants["now"] = (warm_port, servers[0])

        # 3. cold server: an LRU of zero bytes keeps nothing.
        cold_port = free_port()
        servers.append(
            start_server(
                {**env, "GEOPROMPT_SAM2_FEATURE_CACHE_BYTES": "0"}, cold_port, work / "cold.log", 1, args.threads
            )
        )
        cold, cold_timing = timed_requests(cold_port, clicks[:20], warmup=2)
        servers.pop().terminate()

        # 3b. cold clicks with the features on local disk against the same in an S3-compatible
        # bucket (moto's server on loopback), alternated, each server with its own empty temp folder.
        if not args.no_s3:
            from annotator.storage import Storage
            from tests.support.s3 import CREDENTIALS, S3Server

            s3_server = S3Server(work / "s3.log")
            s3_server.start()
            s3_server.create_bucket("geoprompt-bench")
            os.environ.update(CREDENTIALS)
            bucket = Storage("s3://geoprompt-bench/deployment", s3_server.endpoint_url)
            local_storage = get_storage()
            copied = 0
            for key in local_storage.list_keys(image.storage_prefix):
                with local_storage.local_copy(key) as local_path:
                    bucket.put_file(local_path, key)
                copied += local_storage.size(key)
            print(f"copied {copied / 2**20:.1f} MiB of the image's objects into the bucket")
            cold_env = {**env, "GEOPROMPT_SAM2_FEATURE_CACHE_BYTES": "0"}
            local_port, s3_port = free_port(), free_port()
            (work / "tmp-local").mkdir()
            (work / "tmp-s3").mkdir()
            servers.append(
                start_server(
                    {**cold_env, "GEOPROMPT_TEMP_DIR": str(work / "tmp-local")},
                    local_port,
                    work / "cold-local.log",
                    1,
                    args.threads,
                )
            )
            servers.append(
                start_server(
                    {
                        **cold_env,
                        **CREDENTIALS,
                        "GEOPROMPT_STORAGE_URL": bucket.url,
                        "GEOPROMPT_S3_ENDPOINT_URL": s3_server.endpoint_url,
                        "GEOPROMPT_TEMP_DIR": str(work / "tmp-s3"),
                    },
                    s3_port,
                    work / "cold-s3.log",
                    1,
                    args.threads,
                )
            )
            local_cold, s3_cold = paired(
                (local_port, s3_port), (url_path, url_path), (clicks[:20], clicks[:20]), warmup=2
            )
            servers.pop().terminate()
            servers.pop().terminate()
            s3_server.stop()

        # 5. load: annotators clicking every interval on the warm server, each click a new point.
        load_pixels = rng.uniform([60, 60], [image.width - 60, image.height - 60], size=(4000, 2))
        load_clicks = [list(to_4326.transform(*(to_crs @ (float(c), float(r))))) for c, r in load_pixels]
        load_splits: list[dict] = []
        cpu_start = cpu_by_process()
        latencies, load_errors = run_load(
            warm_port, url_path, headers, load_clicks, args.annotators, args.duration, args.interval, load_splits
        )
        load_cpu = cpu_ms_per_click(cpu_start, cpu_by_process(), len(latencies))
        warm_workers_memory = worker_memory(servers[0])

        # 5b. the same load on each variant's server (earlier checkout, no batching, now), in
        # turns, --compare-rounds times, so that the other work on the machine hits each alike.
        compare: dict[str, dict] = {}
        if args.compare_annotators:
            for _ in range(args.compare_rounds):
                for name, (port, server) in variants.items():
                    cpu_start = server_cpu_seconds(server)
                    lat, errs = run_load(
                        port, url_path, headers, load_clicks, args.compare_annotators, args.compare_duration,
                        args.interval,
                    )  # fmt: skip
                    entry = compare.setdefault(name, {"latencies": [], "errors": 0, "cpu_s": 0.0})
                    entry["latencies"] += lat
                    entry["errors"] += errs
                    entry["cpu_s"] += server_cpu_seconds(server) - cpu_start
                    print(
                        f"compare load {name:<8} {args.compare_annotators} annotators: {len(lat)} requests, "
                        f"{errs} errors, p50 {pct(lat, 50):7.1f} ms, p95 {pct(lat, 95):7.1f} ms"
                    )

        # 6. capacity: the most annotators served at p95 <= 400 ms with no error, short phases.
        capacity, capacity_steps = None, []
        if not args.no_capacity:
            capacity, capacity_steps = find_capacity(
                lambda n: run_load(warm_port, url_path, headers, load_clicks, n, args.capacity_phase, args.interval),
                400.0,
                args.capacity_max,
                args.capacity_budget,
            )
        host["loadavg_end"] = [float(v) for v in os.getloadavg()]

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
        if s3_server is not None:
            s3_server.stop()
        for proc in servers:
            proc.terminate()
            proc.wait(20)
        connection.creation.destroy_test_db(db_name, verbosity=0)
        shutil.rmtree(work, ignore_errors=True)

    rss = web_rss_mib([name for name in args.rss_models.split(",") if name])
    print("latency per click (ms):")
    r = summary("raw", raw)
    rd = summary("endpoint_decoder", endpoint_decoder)
    if decoder_before:
        summary("decoder_before", decoder_before)
        print(
            f"decoder CPU per click p50: now {statistics.median(decoder_cpu):.1f} ms, "
            f"before {statistics.median(decoder_before_cpu):.1f} ms (same clicks, alternated)"
        )
    w = summary("warm", warm)
    c = summary("cold", cold)
    d = summary("disk_baseline", disk)
    ld = summary("load", latencies)
    if args.before_tree:
        before = summary("warm_before", before_warm)
        ap = summary("warm_now_paired", after_paired)
        print(
            "server-side split, warm now (paired), p50 ms: "
            + ", ".join(
                f"{k} {statistics.median(t[k] for t in after_paired_timing):.1f}"
                for k in ("load", "decode", "polygonize")
            )
        )
        print(f"web workers' CPU per warm click, now (paired): {after_paired_cpu_ms:.1f} ms")
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
        f"{len(latencies)} requests, {load_errors} errors"
    )
    print(
        "load, CPU ms per click by process: "
        + ", ".join(f"{group} {ms:.1f}" for group, ms in load_cpu.items())
        + f" (the bench's client threads: {load_cpu.get('bench_client', 0.0):.1f})"
    )
    load_split = split_summary(load_splits)
    for name, figures in load_split.items():
        print(f"load, server split {name:<13} p50 {figures['p50']:7.1f} ms   p95 {figures['p95']:7.1f} ms")
    print("warm server's workers after the load (MiB): " + "; ".join(
        f"RSS {m['rss']}, anonymous {m['anon']}, PSS {m['pss']}" for m in warm_workers_memory
    ))  # fmt: skip
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
        "load_errors": load_errors,
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
        # The warm server's workers after the load (tiny model, the views loaded, the LRU filled).
        "web_worker_memory_mib": warm_workers_memory,
        "load_cpu_ms_per_click": load_cpu,
        "load_split_ms": load_split,
    }
    result["machine"] = host
    if not args.no_s3:
        lc = summary("local_cold", local_cold)
        sc = summary("s3_cold", s3_cold)
        result["local_cold_p50_ms"] = round(lc["p50"], 2)
        result["s3_cold_p50_ms"] = round(sc["p50"], 2)
        result["s3_cold_over_local_cold"] = round(sc["p50"] / lc["p50"], 4)
        print(f"s3_cold_over_local_cold {result['s3_cold_over_local_cold']:.3f} (goal <= 2)")
    if large is not None:
        sp = summary("small_warm_paired", small_paired)
        lw = summary("large_warm", large_warm)
        result["large_image_warm_p50_ms"] = round(lw["p50"], 2)
        result["large_image_warm_p95_ms"] = round(lw["p95"], 2)
        result["small_warm_paired_p50_ms"] = round(sp["p50"], 2)
        result["large_over_small_warm"] = round(lw["p50"] / sp["p50"], 4)
        for name, props in zip(("small_warm_paired", "large_warm"), paired_split[0], strict=True):
            split = ", ".join(
                f"{k} {statistics.median(p['timing_ms'][k] for p in props):.1f}"
                for k in ("load", "decode", "polygonize", "total")
            )
            vertices = statistics.median(p["vertices"] for p in props)
            cut = sum(bool(p["mask_cut_by_window_edge"]) for p in props)
            print(
                f"server-side split, {name} p50 ms: {split}; vertices p50 {vertices:.0f}; "
                f"masks cut by a window edge {cut}/{len(props)}"
            )
        result["large_image"] = {
            "width": large.width,
            "height": large.height,
            "windows_in_plan": encoded_large.windows,
            "levels": encoded_large.levels,
            "windows_encoded": [w.key for w in large_windows],
            "ingest_s": round(ingest_s, 1),
            "encode_s": round(encode_large_s, 1),
        }
        print(
            f"large_over_small_warm {result['large_over_small_warm']:.3f} (goal within 10 %), "
            f"large over the sequential warm p50: {lw['p50'] / w['p50']:.3f}"
        )
    if capacity is not None:
        result["capacity_annotators"] = capacity
        result["capacity_steps"] = capacity_steps
        print(f"capacity_annotators {capacity} (p95 <= 400 ms, 0 errors, {args.capacity_phase:g} s phases)")
    if before is not None:
        result["before_warm_p50_ms"] = round(before["p50"], 2)
        result["before_warm_over_raw"] = round(before["p50"] / r["p50"], 4)
        result["before_server_cpu_ms_per_click"] = round(before_cpu_ms, 1)
        result["paired_warm_p50_ms"] = round(ap["p50"], 2)
        result["paired_server_cpu_ms_per_click"] = round(after_paired_cpu_ms, 1)
        result["paired_cpu_now_over_before"] = round(after_paired_cpu_ms / before_cpu_ms, 4)
    if decoder_before:
        result["endpoint_decoder_before_p50_ms"] = round(statistics.median(decoder_before), 2)
        result["endpoint_decoder_cpu_p50_ms"] = round(statistics.median(decoder_cpu), 2)
        result["endpoint_decoder_before_cpu_p50_ms"] = round(statistics.median(decoder_before_cpu), 2)
    if compare:
        result["compare_load"] = {
            name: {
                "annotators": args.compare_annotators,
                "requests": len(entry["latencies"]),
                "errors": entry["errors"],
                "p50_ms": round(pct(entry["latencies"], 50), 1),
                "p95_ms": round(pct(entry["latencies"], 95), 1),
                "server_cpu_ms_per_click": round(1000 * entry["cpu_s"] / max(1, len(entry["latencies"])), 1),
            }
            for name, entry in compare.items()
        }
        for name, figures in result["compare_load"].items():
            print(f"compare load {name}: {figures}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
