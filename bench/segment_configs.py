"""Benchmark (not a test): the same click load on the web server under several settings, in one run.

Sets up one encoded image as ``bench/segment.py`` does, then for each setting starts the
real gunicorn (``backend/gunicorn.conf.py`` with ``GEOPROMPT_WEB_WORKERS`` x
``GEOPROMPT_WEB_THREADS``, a ``-nopreload`` suffix for ``GEOPROMPT_WEB_PRELOAD=false``; or
``earlier``: 2 workers x 4 threads with keep-alive and no connection limit, the settings
before that file), warms it up, and runs N annotators
clicking every 2 s for D s. Each setting runs ``--rounds`` times, in turns, so that the
machine's other work hits each alike. Prints per setting: p50/p95 latency, errors, CPU ms
per click by process (web workers, PostgreSQL, Redis, the bench's own client threads), the
server's split from ``Server-Timing`` (view, decode, polygonize, and ``outside_view``: the
wait for a free worker, the connection and the transfer) and the workers' memory; the last
line is one JSON object.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/segment_configs.py [--settings earlier,2x2,3x1]
        [--annotators 30] [--duration 60] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")
os.environ.setdefault("GEOPROMPT_SAM2_ALLOW_UNTRAINED", "true")

from bench.segment import (  # noqa: E402
    bench_annotator,
    cpu_by_process,
    cpu_ms_per_click,
    encode_reference_image,
    free_port,
    machine,
    pct,
    run_load,
    server_env,
    split_summary,
    start_server,
    warm_up,
    worker_memory,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settings",
        default="earlier,2x2,3x1,3x1-nopreload",
        help="comma-separated: earlier, or WORKERSxTHREADS, optionally with -nopreload",
    )
    parser.add_argument("--annotators", type=int, default=30)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="geoprompt-bench-configs-"))
    os.environ["GEOPROMPT_STORAGE_URL"] = str(work / "storage")

    import django

    django.setup()
    import numpy as np
    from affine import Affine
    from django.conf import settings
    from django.db import connection
    from pyproj import Transformer

    settings.SAM2_ALLOW_UNTRAINED = True
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    results: dict[str, dict] = {}
    try:
        project, token = bench_annotator()
        image = encode_reference_image(project)
        host = machine()
        print(f"machine: {host['nproc']} cores, {host['cpu_model']}, load average {host['loadavg']}")
        rng = np.random.default_rng(11)
        to_crs = Affine.from_gdal(*image.geotransform)
        to_4326 = Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True)
        pixels = rng.uniform([60, 60], [image.width - 60, image.height - 60], size=(4000, 2))
        clicks = [list(to_4326.transform(*(to_crs @ (float(c), float(r))))) for c, r in pixels]
        env = server_env(work / "storage")
        url_path = f"/api/v1/images/{image.pk}/segment"
        headers = {"Authorization": f"Token {token}"}

        for _ in range(args.rounds):
            for name in args.settings.split(","):
                earlier = name == "earlier"
                shape, _, option = name.partition("-")
                workers, threads = (None, None) if earlier else (int(v) for v in shape.split("x"))
                port = free_port()
                this_env = {**env, "GEOPROMPT_WEB_PRELOAD": "false"} if option == "nopreload" else env
                server = start_server(this_env, port, work / f"{name}.log", workers, threads, earlier=earlier)
                try:
                    warm_up(port, url_path, headers, clicks, 4 * (workers or 2))
                    splits: list[dict] = []
                    before = cpu_by_process()
                    latencies, errors = run_load(
                        port, url_path, headers, clicks, args.annotators, args.duration, args.interval, splits
                    )
                    cpu = cpu_ms_per_click(before, cpu_by_process(), len(latencies))
                    memory = worker_memory(server)
                finally:
                    server.terminate()
                    server.wait(30)
                entry = results.setdefault(name, {"latencies": [], "errors": 0, "splits": [], "cpu": [], "memory": []})
                entry["latencies"] += latencies
                entry["errors"] += errors
                entry["splits"] += splits
                entry["cpu"].append(cpu)
                entry["memory"] = memory
                print(
                    f"{name:<8} {args.annotators} annotators: {len(latencies)} requests, {errors} errors, "
                    f"p50 {pct(latencies, 50):6.1f} ms, p95 {pct(latencies, 95):6.1f} ms; CPU ms/click {cpu}"
                )
        host["loadavg_end"] = [float(v) for v in os.getloadavg()]
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)
        shutil.rmtree(work, ignore_errors=True)

    out: dict = {"machine": host, "annotators": args.annotators, "duration_s": args.duration, "settings": {}}
    for name, entry in results.items():
        lat = entry["latencies"]
        split = split_summary(entry["splits"])
        cpu = {
            group: round(sum(c.get(group, 0.0) for c in entry["cpu"]) / len(entry["cpu"]), 1)
            for group in entry["cpu"][0]
        }
        out["settings"][name] = {
            "requests": len(lat),
            "errors": entry["errors"],
            "p50_ms": round(pct(lat, 50), 1),
            "p95_ms": round(pct(lat, 95), 1),
            "cpu_ms_per_click": cpu,
            "split_ms": split,
            "worker_memory_mib": entry["memory"],
        }
        print(
            f"{name:<8} p95 {pct(lat, 95):6.1f} ms; split p50/p95: "
            + ", ".join(f"{k} {v['p50']}/{v['p95']}" for k, v in split.items())
            + "; workers (RSS, anonymous, PSS MiB): "
            + "; ".join(f"{m['rss']}, {m['anon']}, {m['pss']}" for m in entry["memory"])
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
