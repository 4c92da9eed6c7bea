"""Background jobs as rows: enqueue by kind, send through an outbox, run through the registry.

Services call ``jobs.enqueue(JobKind.ENCODE, project, image, user)``; each concept
registers how its kind runs with ``@jobs.register(kind)``; the one Celery task
in ``tasks/jobs.py`` calls :func:`run_job` with the row's id. A job whose message could
not reach the broker stays queued and is sent later (:mod:`annotator.jobs.outbox`).
"""

from annotator.jobs.outbox import enqueue, has_backlog, publish, publish_pending, publish_pending_at_connect, send
from annotator.jobs.registry import (
    DEFAULT_QUEUE,
    ENCODE_QUEUE,
    QUEUES,
    RUN_JOB_TASK,
    JobRunner,
    queue_for,
    register,
    runner_for,
    runners,
)
from annotator.jobs.service import cancel, latest_job_for, latest_jobs_for, run_job

__all__ = [
    "DEFAULT_QUEUE",
    "ENCODE_QUEUE",
    "QUEUES",
    "RUN_JOB_TASK",
    "JobRunner",
    "cancel",
    "enqueue",
    "has_backlog",
    "latest_job_for",
    "latest_jobs_for",
    "publish",
    "publish_pending",
    "publish_pending_at_connect",
    "queue_for",
    "register",
    "run_job",
    "runner_for",
    "runners",
    "send",
]
