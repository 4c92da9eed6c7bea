"""Celery tasks: one generic task that loads a Job row and runs it through the job registry."""

from tasks.jobs import run_job_task

__all__ = ["run_job_task"]
