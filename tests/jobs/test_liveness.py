"""Claims, heartbeats and the stale sweep: a job whose worker died is queued again, never run twice.

The rows are made by hand in the states a dead worker leaves (running, a heartbeat of some
age, a host:pid); the runner is a stand-in where the test is about the job machinery.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotator import jobs
from annotator.choices import JobKind, JobStatus
from annotator.jobs import liveness, service
from annotator.jobs.registry import JobRunner
from annotator.models import Job
from tests.support.broker import RedisServer, celery_app_at
from tests.support.workflow import make_image

ELSEWHERE = "another-machine:4242"  # a worker on a host this process cannot look into


@pytest.fixture
def image(cast):
    return make_image(cast.project)


def running_job(project, target, *, silent_s: float, attempts: int = 1, worker: str = ELSEWHERE) -> Job:
    """A job as a worker left it: running under a claim, its last heartbeat ``silent_s`` seconds ago."""
    beat = timezone.now() - timedelta(seconds=silent_s)
    return Job.objects.create(
        project=project,
        kind=JobKind.ENCODE,
        target=target,
        status=JobStatus.RUNNING,
        started_at=beat - timedelta(seconds=30),
        heartbeat_at=beat,
        attempts=attempts,
        attempt_token=f"token-{attempts}",
        worker=worker,
        progress=9 / 17,
        message="9/17 windows, 0.10 windows/s, ETA 2 min",
        published_at=beat,
    )


def a_gone_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def stand_in_runner(monkeypatch):
    """Replace every kind's runner by ``run`` (a function of the Job row); records the rows it ran."""
    ran: list[Job] = []

    def install(run=lambda job: "done"):
        def recording(job: Job):
            ran.append(job)
            return run(job)

        monkeypatch.setattr(service, "runner_for", lambda kind: JobRunner(JobKind(kind), recording, "default"))
        return ran

    return install


# --- claims ----------------------------------------------------------------------------


def test_a_worker_claims_a_queued_job_once_with_a_new_attempt_token(cast, image):
    job = Job.objects.create(project=cast.project, kind=JobKind.ENCODE, target=image)
    claimed = jobs.claim(job.pk)
    assert claimed.status == JobStatus.RUNNING and claimed.attempts == 1 and len(claimed.attempt_token) == 32
    assert claimed.worker == f"{socket.gethostname()}:{os.getpid()}"
    assert claimed.started_at and claimed.heartbeat_at
    assert jobs.claim(job.pk) is None  # a second delivery finds it running
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_a_second_delivery_of_a_job_whose_worker_reports_is_dropped(cast, image, stand_in_runner):
    ran = stand_in_runner()
    job = running_job(cast.project, image, silent_s=5)
    assert jobs.run_job(job.pk).status == JobStatus.RUNNING
    assert ran == []
    row = Job.objects.get(pk=job.pk)
    assert (row.attempts, row.attempt_token, row.worker) == (1, "token-1", ELSEWHERE)


def test_a_redelivered_message_resumes_a_job_whose_worker_went_silent(cast, image, stand_in_runner):
    ran = stand_in_runner()
    job = running_job(cast.project, image, silent_s=61)
    finished = jobs.run_job(job.pk)
    assert len(ran) == 1 and ran[0].attempts == 2
    assert (finished.status, finished.attempts, finished.message) == (JobStatus.SUCCEEDED, 2, "done")


def test_a_run_that_lost_its_job_writes_nothing(cast, image):
    job = Job.objects.create(project=cast.project, kind=JobKind.ENCODE, target=image)
    run = jobs.claim(job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    assert jobs.sweep_stale_jobs(send=False).requeued == [job.pk]
    assert run.set_progress(0.9, "9/10 windows") is False
    assert run.mark_succeeded("all done") is False and run.mark_failed("boom") is False
    assert not jobs.holds_claim(run)
    row = Job.objects.get(pk=job.pk)
    assert row.status == JobStatus.QUEUED and row.progress == 0 and row.error == ""


def test_run_job_stops_quietly_when_its_runner_finds_the_claim_lost(cast, image, stand_in_runner):
    def taken_over(job: Job):
        Job.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED, attempt_token="")  # re-queued meanwhile
        raise jobs.ClaimLost(job)

    stand_in_runner(taken_over)
    job = Job.objects.create(project=cast.project, kind=JobKind.ENCODE, target=image)
    assert jobs.run_job(job.pk).status == JobStatus.QUEUED
    assert Job.objects.get(pk=job.pk).error == ""


def test_progress_reports_are_heartbeats(cast, image):
    job = Job.objects.create(project=cast.project, kind=JobKind.ENCODE, target=image)
    run = jobs.claim(job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=50))
    assert run.set_progress(0.5, "5/10 windows")
    assert Job.objects.get(pk=job.pk).heartbeat_age_s() < 5


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_stamps_the_row_and_stops_once_the_job_is_not_its_own(cast, image):
    job = Job.objects.create(project=cast.project, kind=JobKind.ENCODE, target=image)
    run = jobs.claim(job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=50))
    with jobs.Heartbeat(run, interval_s=0.05) as heartbeat:
        assert _eventually(lambda: Job.objects.get(pk=job.pk).heartbeat_age_s() < 5)
        jobs.cancel(Job.objects.get(pk=job.pk))
        assert _eventually(lambda: not heartbeat._thread.is_alive())
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED


# --- the sweep -------------------------------------------------------------------------


def test_the_sweep_requeues_a_silent_job_and_leaves_one_that_reports(cast, image, settings):
    settings.JOB_STALE_S = 60
    silent = running_job(cast.project, image, silent_s=61)
    reporting = running_job(cast.project, make_image(cast.project, name="b.tif"), silent_s=45)
    sweep = jobs.sweep_stale_jobs(send=False)
    assert sweep.requeued == [silent.pk] and sweep.failed == []
    assert 14 < sweep.next_check_s <= 15.5  # when the one that reports would go stale (within 30 s)
    silent.refresh_from_db()
    assert (silent.status, silent.attempt_token, silent.worker, silent.published_at) == (JobStatus.QUEUED, "", "", None)
    assert silent.attempts == 1 and silent.progress == pytest.approx(9 / 17)
    assert silent.message == "waiting for a worker: the one running it stopped responding (attempt 1 of 3)"
    assert Job.objects.get(pk=reporting.pk).status == JobStatus.RUNNING
    assert jobs.sweep_stale_jobs(send=False).requeued == []  # nothing left to do


def test_a_job_whose_process_is_gone_from_this_host_is_requeued_without_waiting(cast, image):
    gone = running_job(cast.project, image, silent_s=2, worker=f"{socket.gethostname()}:{a_gone_pid()}")
    here = liveness.worker_identity()
    alive = running_job(cast.project, make_image(cast.project, name="b.tif"), silent_s=2, worker=here)
    assert jobs.sweep_stale_jobs(send=False).requeued == [gone.pk]
    assert Job.objects.get(pk=alive.pk).status == JobStatus.RUNNING


def test_the_release_is_a_conditional_update_on_the_row_as_read(cast, image):
    job = running_job(cast.project, image, silent_s=90)
    seen = Job.objects.get(pk=job.pk)
    # The worker reported in between: the sweep's reading is out of date, nothing changes.
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    assert liveness.release_abandoned(seen) is None
    # Another run claimed it in between (a new token).
    seen = Job.objects.get(pk=job.pk)
    Job.objects.filter(pk=job.pk).update(attempt_token="token-2", attempts=2)
    assert liveness.release_abandoned(seen) is None
    # The same reading released twice (two sweepers): once.
    seen = Job.objects.get(pk=job.pk)
    assert liveness.release_abandoned(seen) == JobStatus.QUEUED
    assert liveness.release_abandoned(seen) is None
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


@pytest.mark.django_db(transaction=True)
def test_workers_sweeping_at_once_requeue_each_job_once(cast, image):
    silent = [running_job(cast.project, make_image(cast.project, name=f"{i}.tif"), silent_s=120) for i in range(4)]
    barrier = threading.Barrier(3)

    def sweep() -> list[int]:
        try:
            barrier.wait()
            return jobs.sweep_stale_jobs(send=False).requeued
        finally:
            connection.close()

    results: list[list[int]] = []
    threads = [threading.Thread(target=lambda: results.append(sweep())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    requeued = sorted(pk for found in results for pk in found)
    assert requeued == sorted(job.pk for job in silent)  # each job once, whoever did it
    assert Job.objects.filter(status=JobStatus.QUEUED).count() == 4


def test_a_job_out_of_attempts_is_failed_with_a_message_people_understand(cast, image, settings):
    settings.JOB_MAX_ATTEMPTS = 3
    third = running_job(cast.project, image, silent_s=300, attempts=3)
    sweep = jobs.sweep_stale_jobs(send=False)
    assert (sweep.requeued, sweep.failed) == ([], [third.pk])
    third.refresh_from_db()
    assert third.status == JobStatus.FAILED and third.finished_at and third.attempt_token == ""
    assert third.error.startswith("The job was started 3 time(s), and each time the worker running it stopped")
    assert "retry" in third.error
    # A late delivery of its message does not bring it back.
    assert jobs.run_job(third.pk).status == JobStatus.FAILED


def test_a_job_from_before_heartbeats_is_judged_by_its_start(cast, image):
    old = running_job(cast.project, image, silent_s=600)
    Job.objects.filter(pk=old.pk).update(heartbeat_at=None, attempt_token="", worker="")
    assert jobs.sweep_stale_jobs(send=False).requeued == [old.pk]


def test_the_stale_limit_must_leave_room_for_two_heartbeats():
    code = "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'backend.settings'; django.setup()"
    env = {**os.environ, "GEOPROMPT_JOB_HEARTBEAT_S": "10", "GEOPROMPT_JOB_STALE_S": "15"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "GEOPROMPT_JOB_STALE_S (15) must be at least twice" in result.stderr


# --- sending a re-queued job ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_requeued_job_is_sent_ahead_of_new_work(cast, image, tmp_path):
    server = RedisServer(tmp_path / "redis.log")
    server.start()
    try:
        with celery_app_at(server.url):
            fresh = Job.objects.create(project=cast.project, kind=JobKind.ENCODE, target=image)
            assert jobs.publish(fresh.pk)
            silent = running_job(cast.project, make_image(cast.project, name="b.tif"), silent_s=120)
            sweep = jobs.sweep_stale_jobs()
        assert sweep.requeued == [silent.pk]
        assert Job.objects.get(pk=silent.pk).published_at is not None
        assert server.queue_priorities("encode") == [0, 3]  # the resumed job is served first
    finally:
        server.stop()


def _eventually(predicate, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
