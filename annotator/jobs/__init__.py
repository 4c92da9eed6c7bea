"""Background jobs as rows: enqueue by kind, run through the registry, cancel, look up.

Services call ``jobs.enqueue(JobKind.ENCODE, project, image, user)``; each concept
registers how its kind runs with ``@jobs.register(kind, queue=...)``; the one Celery task
in ``tasks/jobs.py`` calls :func:`run_job` with the row's id.
"""

from annotator.jobs.registry import (
    DEFAULT_QUEUE,
    ENCODE_QUEUE,
    QUEUES,
    RUN_JOB_TASK,
    JobRunner,
    register,
    runner_for,
    runners,
)
from annotator.jobs.service import cancel, enqueue, latest_job_for, latest_jobs_for, run_job, send

__all__ = [
    "DEFAULT_QUEUE",
    "ENCODE_QUEUE",
    "QUEUES",
    "RUN_JOB_TASK",
    "JobRunner",
    "cancel",
    "enqueue",
    "latest_job_for",
    "latest_jobs_for",
    "register",
    "run_job",
    "runner_for",
    "runners",
    "send",
]
