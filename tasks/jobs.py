"""The one Celery task: run a Job row by id through the job registry."""

from __future__ import annotations

from celery import shared_task

from annotator import jobs


@shared_task(name=jobs.RUN_JOB_TASK)
def run_job_task(job_id: int) -> None:
    """Run the job whose row has ``job_id``; the row's kind picks the runner (and the queue it was sent to)."""
    jobs.run_job(job_id)
