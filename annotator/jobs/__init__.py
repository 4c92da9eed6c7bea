"""Background jobs as rows: enqueue by kind, send through an outbox, run through the registry.

Services call ``jobs.enqueue(JobKind.ENCODE, project, image, user)``; each concept
registers how its kind runs with ``@jobs.register(kind)``; the one Celery task
in ``tasks/jobs.py`` calls :func:`run_job` with the row's id. A job whose message could
not reach the broker stays queued and is sent later (:mod:`annotator.jobs.outbox`).
A worker claims a job before running it and keeps its heartbeat while it runs
(:mod:`annotator.jobs.liveness`); a job whose worker died is queued again by every
worker's sweep, and an owner can retry a failed one (:mod:`annotator.jobs.recovery`).
"""

from annotator.jobs.liveness import ClaimLost, Heartbeat, claim, holds_claim
from annotator.jobs.outbox import enqueue, has_backlog, publish, publish_pending, publish_pending_at_connect, send
from annotator.jobs.recovery import JobSweeper, Sweep, retry, sweep_stale_jobs
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
    "ClaimLost",
    "Heartbeat",
    "JobRunner",
    "JobSweeper",
    "Sweep",
    "cancel",
    "claim",
    "enqueue",
    "has_backlog",
    "holds_claim",
    "latest_job_for",
    "latest_jobs_for",
    "publish",
    "publish_pending",
    "publish_pending_at_connect",
    "queue_for",
    "register",
    "retry",
    "run_job",
    "runner_for",
    "runners",
    "send",
    "sweep_stale_jobs",
]
