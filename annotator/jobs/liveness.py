"""Who runs a job right now, and whether they are still alive: claims and heartbeats.

A worker starts a job only by *claiming* its row: one conditional ``UPDATE`` turns
``queued`` into ``running`` with a new attempt token, so two deliveries of one Celery
message (a redelivery after the visibility timeout, a re-queue by the sweep) never run
the job twice at once. While the runner works, a :class:`Heartbeat` thread stamps
``heartbeat_at`` every ``JOB_HEARTBEAT_S`` seconds (progress reports stamp it too).

A running job whose stamp is older than ``JOB_STALE_S``, or whose process is gone from
this host, lost its worker: :mod:`annotator.jobs.recovery` puts it back in the queue.
Every write of a run is conditional on its token (:meth:`Job._own_row`), so a run that
lost its job (re-queued, retried) changes nothing, and the encode runner stops at its next
batch (:class:`ClaimLost`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime

from django.conf import settings
from django.db import connections
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotator.choices import JobStatus
from annotator.models import Job

logger = logging.getLogger(__name__)


class ClaimLost(Exception):
    """The run no longer holds its job: it was re-queued (its heartbeat went stale) or retried.

    Raised by runners that check their claim between steps; ``run_job`` stops quietly, since
    the job's row belongs to another run now.
    """

    def __init__(self, job: Job):
        super().__init__(f"job {job.pk} is no longer held by this run (attempt token {job.attempt_token})")
        self.job = job


def worker_identity() -> str:
    """``host:pid`` of this process, as stored in ``Job.worker`` by a claim."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_is_gone(worker: str) -> bool:
    """Whether ``worker`` (``host:pid``) names a process of this host that no longer exists.

    Only this host's processes can be asked; any other host, this very process, or a pid
    that exists (even a different process that reused the number) answers False, so the
    heartbeat's age stays the rule there.
    """
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists but belongs to someone else (EPERM)
        return False
    return False


# A running job's last sign of life: its heartbeat, else its start (rows from before heartbeats).
LAST_SIGN_OF_LIFE = Coalesce("heartbeat_at", "started_at", "created_at")


def is_abandoned(job: Job, now: datetime | None = None) -> bool:
    """Whether a running job lost its worker: silent for over ``JOB_STALE_S``, or its process is gone from this host."""
    if job.status != JobStatus.RUNNING:
        return False
    return job.is_stalled(now) or bool(job.worker and process_is_gone(job.worker))


def exhausted_message(attempts: int) -> str:
    """The error of a job failed because its workers kept dying, for the people who queued it."""
    return (
        f"The job was started {attempts} time(s), and each time the worker running it stopped "
        "responding (it was killed, ran out of memory, or its machine went away). It was "
        "stopped so that it does not keep coming back; an owner can retry it once the workers are healthy."
    )


def release_abandoned(job: Job, now: datetime | None = None) -> str | None:
    """Put an abandoned running job back to ``queued`` (unpublished), or fail it once out of attempts.

    One conditional ``UPDATE`` on the row as ``job`` read it (running, same attempt token,
    same heartbeat): when two processes release one job at once, one of them does it, and
    a job that beat or was claimed again in between is left alone. The caller sends the
    re-queued job (or the outbox does).

    Returns:
        ``"queued"`` or ``"failed"`` when this call changed the row; None when it did not.
    """
    now = now or timezone.now()
    rows = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempt_token=job.attempt_token)
    rows = rows.filter(heartbeat_at=job.heartbeat_at) if job.heartbeat_at else rows.filter(heartbeat_at__isnull=True)
    silent_s = job.heartbeat_age_s(now) or 0.0
    why = f"silent for {silent_s:.0f} s" if silent_s > settings.JOB_STALE_S else "its process is gone"
    limit = settings.JOB_MAX_ATTEMPTS
    if job.attempts >= limit:
        if not rows.update(
            status=JobStatus.FAILED,
            error=exhausted_message(job.attempts),
            message="failed",
            finished_at=now,
            attempt_token="",
        ):
            return None
        logger.error(
            "job %s (%s) failed: its worker %s is lost (%s) on attempt %d of %d",
            job.pk, job.kind, job.worker or "?", why, job.attempts, limit,
        )  # fmt: skip
        return JobStatus.FAILED
    if not rows.update(
        status=JobStatus.QUEUED,
        attempt_token="",
        worker="",
        published_at=None,
        celery_task_id=uuid.uuid4().hex,
        message=f"waiting for a worker: the one running it stopped responding (attempt {job.attempts} of {limit})",
    ):
        return None
    logger.warning(
        "job %s (%s) re-queued: its worker %s is lost (%s) after attempt %d of %d",
        job.pk, job.kind, job.worker or "?", why, job.attempts, limit,
    )  # fmt: skip
    return JobStatus.QUEUED


def claim(job_id: int) -> Job | None:
    """Take a queued job for this process: ``running``, a new attempt token, ``attempts`` + 1.

    A running job whose worker is gone (see :func:`is_abandoned`) is released first, so
    that a redelivered message resumes it at once rather than waiting for the sweep.

    Returns the claimed row, or None when it is not queued (finished, cancelled, gone, out
    of attempts, or running under a live claim: a duplicate delivery of its message).
    """
    found = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).first()
    if found is not None and is_abandoned(found):
        release_abandoned(found)
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        attempt_token=token,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        started_at=Coalesce("started_at", Value(now)),
        worker=worker_identity()[:200],
        message="",
        error="",
        finished_at=None,
    )
    if not claimed:
        return None
    return Job.objects.get(pk=job_id)


def holds_claim(job: Job) -> bool:
    """Whether ``job``'s run still holds the row (running, same attempt token); True for an unclaimed object."""
    if not job.attempt_token:
        return True
    return Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempt_token=job.attempt_token).exists()


class Heartbeat:
    """A daemon thread that stamps the claimed job's ``heartbeat_at`` while the runner works.

    Use as a context manager around the runner. It stops by itself once the run no longer
    holds the job (cancelled, finished, re-queued), and never raises into the runner: a
    database hiccup only skips a beat (a long outage makes the job look stale, and the
    claim keeps a second run from writing over this one).
    """

    def __init__(self, job: Job, interval_s: float | None = None):
        self.job_id = job.pk
        self.token = job.attempt_token
        self.interval_s = interval_s if interval_s is not None else settings.JOB_HEARTBEAT_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job.pk}-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def beat(self) -> bool:
        """Stamp the row now; False once the run no longer holds it."""
        return bool(
            Job.objects.filter(pk=self.job_id, status=JobStatus.RUNNING, attempt_token=self.token).update(
                heartbeat_at=timezone.now()
            )
        )

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    held = self.beat()
                except Exception:
                    logger.warning("job %s: could not record its heartbeat", self.job_id, exc_info=True)
                    connections.close_all()  # this thread's connection may be broken
                    continue
                if not held:
                    logger.info("job %s is no longer this run's (finished, cancelled or re-queued)", self.job_id)
                    return
        finally:
            connections.close_all()  # this thread's own connections
