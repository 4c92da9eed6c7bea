"""Background jobs: every one is a Job row; Celery only carries the row's id."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from annotator.choices import JobKind, JobStatus
from annotator.errors import Conflict, GeopromptError
from annotator.models import Job, Project

logger = logging.getLogger(__name__)


def enqueue(kind: JobKind, project: Project, target, user, task, **options) -> Job:
    """Create a queued Job row and send ``task(job_id)`` once the transaction commits.

    Sending after commit means a worker never picks up a job whose row it cannot see yet.
    """
    job = Job.objects.create(
        project=project,
        kind=kind,
        target=target,
        created_by=user if user is not None and user.is_authenticated else None,
        celery_task_id=uuid.uuid4().hex,
    )
    transaction.on_commit(lambda: task.apply_async(args=[job.pk], task_id=job.celery_task_id, **options))
    return job


def latest_job_for(target, kind: JobKind | None = None) -> Job | None:
    """The newest Job row linked to ``target`` (optionally of one kind)."""
    found = Job.objects.filter(target_type=ContentType.objects.get_for_model(target), target_id=target.pk)
    if kind is not None:
        found = found.filter(kind=kind)
    return found.order_by("-created_at", "-id").first()


def run_job(job_id: int, work: Callable[[Job], str | None]) -> Job | None:
    """Run ``work(job)`` for a Job row, recording start, finish and errors on the row.

    ``work`` returns an optional final message. Errors that the services raise on purpose
    become the job's error text; anything else is logged with its traceback too.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        logger.warning("job %s no longer exists; nothing to do", job_id)
        return None
    if job.is_finished:
        logger.info("job %s already %s; skipping", job.pk, job.status)
        return job
    job.mark_running()
    try:
        message = work(job)
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
