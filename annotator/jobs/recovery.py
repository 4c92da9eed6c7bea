"""Putting jobs back in the queue: after their worker died (the stale sweep), and on an owner's retry.

**The sweep.** A running job whose heartbeat is older than ``JOB_STALE_S`` (or whose
process is gone from this host) lost its worker: killed, out of memory, its machine gone.
:func:`sweep_stale_jobs` puts it back to ``queued`` and sends its task again, ahead of new
work; a job already started ``JOB_MAX_ATTEMPTS`` times is failed instead, with a message
that says why. Every worker runs the sweep when it starts and then in a
:class:`JobSweeper` thread (``tasks.jobs.SweepStaleJobs``; there is no Celery beat).

Each change is one conditional ``UPDATE`` on the row as the sweep read it (running, same
attempt token, same heartbeat; :func:`annotator.jobs.liveness.release_abandoned`), so two
workers sweeping at once never both re-queue a job, and a job that beat or was claimed
again in between is left alone. The runners are safe
to run again: encode resumes (stored windows are skipped); ingest, export and import start
over and replace what they write.

**Retry.** :func:`retry` puts a failed, cancelled or stuck job back in the queue with a
fresh budget of attempts; a job still running with a fresh heartbeat is refused
(:class:`~annotator.errors.JobRunning`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from annotator.choices import JobStatus
from annotator.errors import Conflict, JobRunning
from annotator.jobs.liveness import LAST_SIGN_OF_LIFE, is_abandoned, release_abandoned
from annotator.jobs.outbox import publish, publish_after_commit
from annotator.models import Job

logger = logging.getLogger(__name__)

# How often each worker sweeps at most; it looks sooner when a running job is about to go
# stale, so that a dead worker's job is re-queued within about a second of JOB_STALE_S.
SWEEP_INTERVAL_S = 30.0


@dataclass(frozen=True)
class Sweep:
    """What one sweep did.

    Attributes:
        requeued: ids of the jobs put back in the queue.
        failed: ids of the jobs failed because they ran out of attempts.
        next_check_s: seconds until a running job could go stale (at most the sweep interval).
    """

    requeued: list[int]
    failed: list[int]
    next_check_s: float


def sweep_interval_s() -> float:
    return min(SWEEP_INTERVAL_S, settings.JOB_STALE_S / 2)


def sweep_stale_jobs(now: datetime | None = None, *, send: bool = True) -> Sweep:
    """Re-queue (or fail, out of attempts) every running job whose worker is gone.

    Args:
        now: the time to judge heartbeats by (tests); this machine's clock otherwise
            (heartbeats are stamped by the workers' clocks: keep them in sync).
        send: publish the re-queued jobs' tasks now; without it (or when the broker is
            down) they wait, unpublished, for the outbox (:mod:`annotator.jobs.outbox`).
    Returns:
        what was re-queued and failed, and when to look again.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_STALE_S)
    running = Job.objects.filter(status=JobStatus.RUNNING).annotate(beat=LAST_SIGN_OF_LIFE)
    requeued: list[int] = []
    failed: list[int] = []
    next_check_s = sweep_interval_s()
    for job in running:
        if not is_abandoned(job, now):
            next_check_s = min(next_check_s, (job.beat - cutoff).total_seconds() + 0.5)
            continue
        outcome = release_abandoned(job, now)
        if outcome == JobStatus.QUEUED:
            requeued.append(job.pk)
        elif outcome == JobStatus.FAILED:
            failed.append(job.pk)
    if send:
        for job_id in requeued:
            try:
                publish(job_id)
            except Exception:
                logger.warning("could not send re-queued job %s; the outbox sends it later", job_id, exc_info=True)
                break
    return Sweep(requeued=requeued, failed=failed, next_check_s=max(next_check_s, 0.5))


class JobSweeper:
    """A daemon thread that runs :func:`sweep_stale_jobs` now and then every few seconds, until stopped."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def sweep_once(self) -> float:
        """One sweep; returns the seconds to wait before the next. Never raises."""
        try:
            return sweep_stale_jobs().next_check_s
        except Exception:
            # A database outage must not end the thread: the next sweep tries again.
            logger.exception("could not sweep for running jobs whose worker died")
            return sweep_interval_s()
        finally:
            connections.close_all()  # this thread's connection, opened again next time

    def _run(self) -> None:
        delay = 0.0  # the first sweep at once: the worker has just started
        while not self._stop.wait(delay):
            delay = self.sweep_once()


def retry(job: Job) -> Job:
    """Queue a failed, cancelled or stuck job again, with a fresh budget of attempts.

    Stuck: running with a stale heartbeat, or queued (a message the broker lost). Work
    already done is kept where the runner can resume (encode).

    Raises:
        JobRunning: it is running and its worker reported within ``JOB_STALE_S``.
        Conflict: it succeeded, a newer job of its kind replaced it on the same target, or
            it changed while asked.
    """
    if job.status == JobStatus.SUCCEEDED:
        raise Conflict("The job has succeeded; there is nothing to retry.", extra={"status": job.status})
    if job.status == JobStatus.RUNNING and not job.is_stalled():
        age = job.heartbeat_age_s() or 0.0
        raise JobRunning(
            f"The job is running: its worker reported {age:.0f} s ago. Cancel it first, or wait for it.",
            extra={"status": job.status, "heartbeat_age_s": round(age, 1)},
        )
    if job.target_type_id is not None:
        newer = (
            Job.objects.filter(kind=job.kind, target_type_id=job.target_type_id, target_id=job.target_id, pk__gt=job.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if newer is not None:
            raise Conflict(
                f"A newer {job.kind} job (#{newer}) has replaced this one; retry that one if it needs it.",
                extra={"status": job.status, "newer_job": newer},
            )
    rows = Job.objects.filter(pk=job.pk, status=job.status, attempt_token=job.attempt_token)
    rows = rows.filter(heartbeat_at=job.heartbeat_at) if job.heartbeat_at else rows.filter(heartbeat_at__isnull=True)
    with transaction.atomic():
        changed = rows.update(
            status=JobStatus.QUEUED,
            attempts=0,
            attempt_token="",
            worker="",
            progress=0.0,
            message="queued again",
            error="",
            finished_at=None,
            published_at=None,
            celery_task_id=uuid.uuid4().hex,
        )
        if not changed:
            job.refresh_from_db()
            raise Conflict("The job changed while you asked; look at it again.", extra={"status": job.status})
        transaction.on_commit(lambda: publish_after_commit(job.pk))
    job.refresh_from_db()
    return job
