"""Benchmark (not a test): a 20,000 x 20,000 px image from upload to the first polygon, encoding on demand.

On a throwaway database, storage folder and Redis server (started on a free port):

1. builds a ``--size``² px, 4-band GeoTIFF that repeats the reference scene
   (``fixtures/rasters/naip_rgbn_utm14_2020.tif``), written block by block (never the
   whole image in memory), and stores it as an upload;
2. ingests it with the real ingest code (:func:`annotator.imagery.ingest.ingest_image`) in a
   subprocess: ``ingest_s`` and that process's peak resident memory (``ingest_peak_rss_mib``,
   ``ru_maxrss``). Ingest queues the whole-image encode job, as after an upload;
3. a real Celery worker process on the ``encode`` queue (started before the ingest, as a
   deployment's workers are) runs that job, windows in the order of need;
4. clicks at a random point through the real web code path, in process: the Django test
   client posting to ``/api/v1/images/{id}/segment`` as an annotator (the view, the segment
   service, the on-demand wait). A ``409 encoding_area`` answer is re-sent, as the annotate
   page does, until the polygon comes: ``first_polygon_s`` is the time from the end of the
   ingest to that polygon; then 10 further random points, one after the other, each timed
   from its first request to its polygon (``next_polygons_p50_s``);
5. lets the whole-image encode run ``--rate-window`` s more and counts the windows it stores:
   ``full_encode_estimate_s`` = windows in the plan x measured seconds per window.

Prints the figures and, as the last line, one JSON object with ``ingest_s``,
``ingest_peak_rss_mib``, ``first_polygon_s``, ``next_polygons_p50_s``, ``full_encode_estimate_s``
(and the details: windows, levels, seconds per window, machine).

    GEOPROMPT_DEBUG=true .venv/bin/python bench/bigimage.py
        [--size 20000] [--points 10] [--rate-window 60] [--seed 17]

Goals on 2 CPU cores with the untrained tiny model: ``first_polygon_s`` ≤ 30,
``ingest_peak_rss_mib`` ≤ 1,500.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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
os.environ.setdefault("GEOPROMPT_SAM2_MODEL", "sam2.1_hiera_tiny")
os.environ["GEOPROMPT_CELERY_EAGER"] = "false"

# Run in a fresh interpreter: ingest one image, print its seconds and this process's peak RSS.
INGEST_SCRIPT = """
import json, os, resource, sys, time
sys.path.insert(0, {repo!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django
django.setup()
from annotator.imagery import ingest as imagery
from annotator.models import Image
image = Image.objects.select_related("project").get(pk={image_id})
t = time.monotonic()
imagery.ingest_image(image)
seconds = time.monotonic() - t
print(json.dumps({{"ingest_s": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="side of the image, px")
    parser.add_argument("--points", type=int, default=10, help="further random points after the first")
    parser.add_argument("--rate-window", type=float, default=60.0, help="seconds the encode rate is measured over")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    from bench import segment as bench_segment  # free_port, machine
    from bench.rasters import write_large_raster

    work = Path(tempfile.mkdtemp(prefix="geoprompt-bench-big-"))
    storage_root = work / "storage"
    os.environ["GEOPROMPT_STORAGE_URL"] = str(storage_root)
    # A Redis of its own (broker and prompt sessions), so no other worker takes its jobs.
    redis_port = bench_segment.free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.environ["GEOPROMPT_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"

    import django

    django.setup()
    import numpy as np
    from affine import Affine
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from pyproj import Transformer
    from rest_framework.test import APIClient

    from annotator import jobs
    from annotator.choices import Role
    from annotator.models import FeatureTile, Image, Job, Membership, Project
    from annotator.sam2 import encode_jobs, encoding
    from annotator.storage import get_storage
    from tests.support.processes import WorkerProcess, test_database_url, wait_until

    settings.SAM2_ALLOW_UNTRAINED = True
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the in-process test client's host
    # A name of its own: other runs (bench/segment.py, test sessions) may hold theirs meanwhile.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_bigimage_p{os.getpid()}"
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    worker = None
    host_start = bench_segment.machine()
    print(f"machine: {host_start['nproc']} cores, {host_start['cpu_model']}, load average {host_start['loadavg']}")
    try:
        user = get_user_model().objects.create_user("bench", password=None)
        project = Project.objects.create(name="bench", sam2_model="sam2.1_hiera_tiny")
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        image = Image.objects.create(project=project, name="big.tif", uploaded_by=user)
        image.original_key = f"{image.storage_prefix}/original.tif"
        t = time.monotonic()
        source = REPO / "fixtures" / "rasters" / "naip_rgbn_utm14_2020.tif"
        big = write_large_raster(source, work / "big.tif", args.size)
        get_storage().put_file(big, image.original_key)
        big.unlink()
        image.save()
        print(f"built and stored a {args.size} x {args.size} px, 4-band image in {time.monotonic() - t:.0f} s")

        # The encode worker is up before the upload's ingest ends, as in a deployment.
        worker = WorkerProcess(test_database_url(), storage_root, work / "worker.log", queues="encode")
        worker.start()

        env = {**os.environ, "GEOPROMPT_DATABASE_URL": test_database_url()}
        script = INGEST_SCRIPT.format(repo=str(REPO), image_id=image.pk)
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        ingest_done = time.monotonic()
        if proc.returncode != 0:
            raise RuntimeError(f"ingest failed:\n{proc.stderr[-3000:]}")
        ingest = json.loads(proc.stdout.strip().splitlines()[-1])
        image.refresh_from_db()
        plan = encoding.image_windows(image)
        levels = max(w.level for w in plan) + 1
        print(
            f"ingest: {ingest['ingest_s']:.1f} s, peak RSS {ingest['peak_rss_mib']:.0f} MiB; "
            f"plan: {len(plan)} windows at {levels} levels; image {image.status}"
        )

        client = APIClient()
        client.force_authenticate(user)
        to_crs = Affine.from_gdal(*image.geotransform)
        to_4326 = Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True)
        rng = np.random.default_rng(args.seed)

        def polygon_at(col: float, row: float) -> tuple[float, int, dict]:
            """Click (col, row) until the polygon comes, re-sending on encoding_area: seconds, tries, properties."""
            lonlat = list(to_4326.transform(*(to_crs @ (col, row))))
            started = time.monotonic()
            tries = 0
            while True:
                tries += 1
                response = client.post(f"/api/v1/images/{image.pk}/segment", {"positive": [lonlat]}, format="json")
                if response.status_code == 200:
                    return time.monotonic() - started, tries, json.loads(response.content)["properties"]
                body = response.json()
                if body.get("code") != "encoding_area":
                    raise RuntimeError(f"segment answered {response.status_code}: {body}")
                time.sleep(float(body.get("retry_after_s", 1.0)))

        def random_point() -> tuple[float, float]:
            return float(rng.uniform(0, image.width)), float(rng.uniform(0, image.height))

        col, row = random_point()
        first_s, tries, props = polygon_at(col, row)
        first_polygon_s = time.monotonic() - ingest_done
        stored_first = FeatureTile.objects.filter(image=image).count()
        print(
            f"first polygon at ({col:.0f}, {row:.0f}) px: {first_polygon_s:.1f} s after ingest "
            f"({first_s:.1f} s from the click, {tries} request(s), level {props['level']}); "
            f"{stored_first} window(s) stored by then"
        )
        further = []
        for _ in range(args.points):
            col, row = random_point()
            seconds, tries, props = polygon_at(col, row)
            further.append(seconds)
            print(
                f"  polygon at ({col:.0f}, {row:.0f}) px: {seconds:.1f} s, {tries} request(s), level {props['level']}"
            )
        next_p50 = statistics.median(further) if further else None

        # The whole-image encode keeps going (raster order now that no click waits): its rate.
        count_a, t_a = FeatureTile.objects.filter(image=image).count(), time.monotonic()
        wait_until(lambda: time.monotonic() - t_a >= args.rate_window, timeout_s=args.rate_window + 5, interval_s=1)
        count_b, t_b = FeatureTile.objects.filter(image=image).count(), time.monotonic()
        per_window_s = (t_b - t_a) / max(1, count_b - count_a)
        estimate = len(plan) * per_window_s
        job = encode_jobs.active_encode_jobs(image).first() or Job.objects.filter(target_id=image.pk).last()
        print(
            f"whole-image encode: {count_b - count_a} windows in {t_b - t_a:.0f} s ({per_window_s:.2f} s/window); "
            f"full encode estimate {estimate:.0f} s ({estimate / 3600:.1f} h); job: {job.message if job else '-'}"
        )
        for running in encode_jobs.active_encode_jobs(image):
            jobs.cancel(running)
    finally:
        if worker is not None:
            worker.stop()
        connection.creation.destroy_test_db(db_name, verbosity=0)
        redis_server.terminate()
        redis_server.wait(20)
        shutil.rmtree(work, ignore_errors=True)

    host_end = bench_segment.machine()
    result = {
        "ingest_s": round(ingest["ingest_s"], 1),
        "ingest_peak_rss_mib": round(ingest["peak_rss_mib"], 1),
        "first_polygon_s": round(first_polygon_s, 2),
        "next_polygons_p50_s": round(next_p50, 2) if next_p50 is not None else None,
        "full_encode_estimate_s": round(estimate, 0),
        "size_px": args.size,
        "windows": len(plan),
        "levels": levels,
        "encode_s_per_window": round(per_window_s, 2),
        "next_polygons_s": [round(s, 2) for s in further],
        "web_path": "Django test client in process (view + segment service + on-demand wait)",
        "on_demand_wait_s": settings.SAM2_ON_DEMAND_WAIT_S,
        "machine": {**host_start, "loadavg_end": host_end["loadavg"]},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
