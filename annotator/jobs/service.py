"""Background jobs: every one is a Job row; Celery only carries the row's id. Running, cancelling, looking up."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from annotator.choices import JobKind, JobStatus
from annotator.errors import Conflict, GeopromptError
from annotator.jobs.liveness import ClaimLost, Heartbeat, claim
from annotator.jobs.registry import runner_for
from annotator.models import Job

logger = logging.getLogger(__name__)


def run_job(job_id: int) -> Job | None:
    """Claim a queued Job row and run it through its kind's runner, recording the outcome on the row.

    The runner returns an optional final message. Errors that the services raise on purpose
    become the job's error text; anything else is logged with its traceback too. While it
    runs, a heartbeat thread stamps the row (:mod:`annotator.jobs.liveness`).

    Only a queued job is run: a finished or cancelled one is skipped, and so is a running
    one, which is another delivery of a message whose job a worker holds (or held: a job
    whose worker died is re-queued by :mod:`annotator.jobs.recovery`, then run here).

    Returns:
        the row (as this run left it, or as found when skipped); None when it is gone.
    """
    job = claim(job_id)
    if job is None:
        return _skipped(job_id)
    try:
        runner = runner_for(job.kind)
        with Heartbeat(job):
            message = runner.run(job)
    except ClaimLost:
        logger.warning("job %s was taken from this run (re-queued or retried); stopping here", job.pk)
        job.refresh_from_db()
        return job
    except GeopromptError as exc:
        job.mark_failed(exc.message)
    except Exception as exc:
        logger.exception("job %s failed", job.pk)
        job.mark_failed(f"{type(exc).__name__}: {exc}")
    else:
        job.mark_succeeded(message or "")
    job.refresh_from_db()
    return job


def _skipped(job_id: int) -> Job | None:
    """Log why a delivery of job ``job_id`` does not run it; the row as found."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        logger.warning("job %s no longer exists; nothing to do", job_id)
    elif job.status == JobStatus.RUNNING:
        logger.info(
            "job %s is already running (%s, heartbeat %.0f s ago); this delivery is a duplicate and is dropped",
            job.pk,
            job.worker or "unknown worker",
            job.heartbeat_age_s() or 0.0,
        )
    else:
        logger.info("job %s already %s; skipping", job.pk, job.status)
    return job


def cancel(job: Job) -> Job:
    """Mark a job cancelled; a running task checks its row and stops at the next step."""
    if job.is_finished:
        raise Conflict(f"The job is already {job.status}.", extra={"status": job.status})
    updated = Job.objects.filter(pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(), message="cancelled"
    )
    job.refresh_from_db()
    if not updated:
        raise Conflict(f"The job is already {job.status}.", extra={"status": job.status})
    return job


def latest_jobs_for(targets: Iterable[models.Model], kind: JobKind | None = None) -> dict[int, Job]:
    """The newest Job row of each target, in one query: ``{target pk: Job}``.

    Targets without a job are absent from the result. All targets must be rows of one
    model (the job's generic target is matched by content type and primary key).
    """
    targets = list(targets)
    if not targets:
        return {}
    found = Job.objects.filter(
        target_type=ContentType.objects.get_for_model(targets[0]), target_id__in=[t.pk for t in targets]
    )
    if kind is not None:
        found = found.filter(kind=kind)
    # PostgreSQL's DISTINCT ON keeps the first row of each target in this order: the newest.
    newest = found.order_by("target_id", "-created_at", "-id").distinct("target_id")
    return {job.target_id: job for job in newest}


def latest_job_for(target: models.Model, kind: JobKind | None = None) -> Job | None:
    """The newest Job row linked to ``target`` (optionally of one kind)."""
    return latest_jobs_for([target], kind).get(target.pk)
