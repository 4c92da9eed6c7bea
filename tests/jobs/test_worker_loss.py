"""A worker killed in the middle of an encode: its job is queued again and finishes, once.

Real Celery workers, a real SIGKILL of the worker's whole process group (main process and
pool child, as a crash or the OOM killer does) and the untrained tiny SAM2 model. Before
job heartbeats, such a job showed "running, ETA 2 min" until Redis redelivered its message
after the visibility timeout (GEOPROMPT_TASK_VISIBILITY_S, 3600 s); these tests keep that
timeout and show the job resumed by the new worker instead.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from django.conf import settings as django_settings

from annotator import jobs
from annotator.choices import ImageStatus, JobKind, JobStatus
from annotator.models import FeatureTile, Image, Job
from annotator.sam2 import encoding
from annotator.storage import get_storage
from tests.support.sam2 import ingest_file, resampled_raster

pytestmark = [pytest.mark.worker, pytest.mark.timeout(600)]


def worker_logs(tmp_path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(tmp_path.glob("*.log")))


def encode_in_a_worker(cast, tmp_path, wait_for) -> tuple[Image, Job]:
    """An image of 5 windows (2 levels), its encode job queued, at least one window stored and reported."""
    image = ingest_file(cast.project, cast.owner, resampled_raster(tmp_path / "big.tif", 1400, 1100))
    assert len(encoding.image_windows(image)) == 5
    job = jobs.enqueue(JobKind.ENCODE, cast.project, image, cast.owner)  # sent at once: no transaction here
    # The window's row is stored before the job reports its progress (with an ETA): wait for both.
    assert wait_for(
        lambda: FeatureTile.objects.filter(image=image).exists() and "ETA" in Job.objects.get(pk=job.pk).message,
        interval_s=0.1,
    ), worker_logs(tmp_path)
    return image, job


def assert_each_window_stored_once(image: Image) -> None:
    """One FeatureTile row per planned window, one cache key, no file without its row."""
    plan = encoding.image_windows(image)
    tiles = list(FeatureTile.objects.filter(image=image))
    assert len(tiles) == len(plan)
    windows = [(t.level, t.row_off, t.col_off) for t in tiles]
    assert sorted(windows) == sorted((w.level, w.row_off, w.col_off) for w in plan)
    assert len({(t.cache_key, *w) for t, w in zip(tiles, windows, strict=True)}) == len(plan)
    assert len({t.cache_key for t in tiles}) == 1
    stored = get_storage().list_keys(f"{image.storage_prefix}/features")
    assert sorted(stored) == sorted(t.storage_key for t in tiles)


def test_a_job_whose_workers_process_group_was_killed_finishes_soon_after_a_restart(
    start_worker, cast, tmp_path, wait_for, capsys
):
    assert django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == 3600
    first = start_worker()
    image, job = encode_in_a_worker(cast, tmp_path, wait_for)
    first.kill()  # SIGKILL to the main process and its pool child
    job.refresh_from_db()
    done_before = FeatureTile.objects.filter(image=image).count()
    assert job.status == JobStatus.RUNNING and job.attempts == 1 and 1 <= done_before < 5
    assert "ETA" in job.message  # what the page showed for an hour before heartbeats

    restarted = time.monotonic()
    start_worker()  # same settings: the message would come back only after 3600 s
    finished = wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, interval_s=0.2)
    seconds = time.monotonic() - restarted
    with capsys.disabled():
        print(f"\n[worker loss] killed after {done_before}/5 windows; completed {seconds:.1f} s after the restart")
    assert finished, worker_logs(tmp_path)
    job.refresh_from_db()
    image.refresh_from_db()
    assert (job.status, image.status) == (JobStatus.SUCCEEDED, ImageStatus.ENCODED), job.error
    assert job.attempts == 2
    assert "already stored)" in job.message and f"{done_before} already stored" in job.message
    assert_each_window_stored_once(image)

    # The killed worker's message is still unacknowledged in Redis. A worker that starts
    # with a 1 s visibility timeout delivers it again, late: the job is not run twice.
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    assert client.hlen("unacked") == 1
    start_worker(GEOPROMPT_TASK_VISIBILITY_S="1")
    assert wait_for(lambda: client.hlen("unacked") == 0, interval_s=0.2), worker_logs(tmp_path)
    assert wait_for(lambda: "already succeeded; skipping" in worker_logs(tmp_path)), worker_logs(tmp_path)
    assert Job.objects.get(pk=job.pk).attempts == 2
    assert_each_window_stored_once(image)


def test_a_job_whose_worker_went_silent_elsewhere_is_queued_again_once_its_heartbeat_is_stale(
    start_worker, cast, tmp_path, wait_for, capsys
):
    beats = {"GEOPROMPT_JOB_HEARTBEAT_S": "1", "GEOPROMPT_JOB_STALE_S": "8"}
    first = start_worker(pool="solo", **beats)
    image, job = encode_in_a_worker(cast, tmp_path, wait_for)
    first.kill()
    killed = time.monotonic()
    # As if it had run on another machine: only the heartbeat's age can tell it is gone.
    Job.objects.filter(pk=job.pk).update(worker="another-machine:1")
    start_worker(pool="solo", **beats)
    assert wait_for(lambda: Job.objects.get(pk=job.pk).attempts == 2, interval_s=0.1), worker_logs(tmp_path)
    resumed = time.monotonic() - killed
    assert wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, interval_s=0.2), worker_logs(tmp_path)
    with capsys.disabled():
        print(f"\n[silent worker] stale after 8 s; the job was started again {resumed:.1f} s after the kill")
    assert resumed >= 6  # not before its heartbeat was stale (the last beat was at most ~1 s before the kill)
    job.refresh_from_db()
    # While it ran again, its own heartbeat kept every worker's sweep away (no third attempt).
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2), job.error
    assert_each_window_stored_once(image)


def test_a_job_whose_pool_child_was_killed_resumes_at_once_in_the_same_worker(start_worker, cast, tmp_path, wait_for):
    start_worker()
    image, job = encode_in_a_worker(cast, tmp_path, wait_for)
    job.refresh_from_db()
    child = int(job.worker.rsplit(":", 1)[1])
    os.kill(child, signal.SIGKILL)  # only the child that runs the job; the main process lives on
    killed = time.monotonic()
    assert wait_for(lambda: Job.objects.get(pk=job.pk).attempts == 2, interval_s=0.1), worker_logs(tmp_path)
    resumed = time.monotonic() - killed
    assert wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, interval_s=0.2), worker_logs(tmp_path)
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2), job.error
    assert resumed < 30, f"resumed {resumed:.1f} s after the kill"
    assert_each_window_stored_once(image)
