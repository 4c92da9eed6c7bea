"""Background jobs: every one is a Job row; Celery only carries the row's id. Running, cancelling, looking up."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from annotator.choices import JobKind, JobStatus
from annotator.errors import Conflict, GeopromptError
from annotator.jobs.registry import runner_for
from annotator.models import Job

logger = logging.getLogger(__name__)


def run_job(job_id: int) -> Job | None:
    """Run a Job row through its kind's runner, recording start, finish and errors on the row.

    The runner returns an optional final message. Errors that the services raise on purpose
    become the job's error text; anything else is logged with its traceback too. A job
    that already finished (or was cancelled) is skipped; a ``running`` one runs again, as
    after a worker crash (runners are resumable).
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        logger.warning("job %s no longer exists; nothing to do", job_id)
        return None
    if job.is_finished:
        logger.info("job %s already %s; skipping", job.pk, job.status)
        return job
    runner = runner_for(job.kind)
    job.mark_running()
    try:
        message = runner.run(job)
    except GeopromptError as exc:
        job.mark_failed(exc.message)
    except Exception as exc:
        logger.exception("job %s failed", job.pk)
        job.mark_failed(f"{type(exc).__name__}: {exc}")
    else:
        job.refresh_from_db(fields=["status"])
        if job.status == JobStatus.RUNNING:
            job.mark_succeeded(message or "")
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
