"""The transactional outbox: a job is a row first, and its Celery message is sent from the row.

:func:`enqueue` only writes the Job row (``queued``, ``published_at`` null) inside the
caller's transaction. Once that commits, :func:`publish` sends the task and stamps
``published_at``. If the broker is down, the send fails, the row stays queued and
unpublished, and the request still succeeds: nothing was lost, the job is only late.
Unpublished jobs are sent again by :func:`publish_pending`, which runs

- after every successful send (one indexed ``EXISTS`` when there is no backlog), and
- in every worker each time it (re)connects to the broker (``tasks.jobs.PublishPendingJobs``),

so a job queued during an outage runs once the broker is back, without Celery beat.

Each send holds the row's lock (``SELECT ... FOR UPDATE SKIP LOCKED``) until
``published_at`` is committed, so two processes sweeping at once never send one job
twice. A process killed between the send and that commit leaves the job unpublished and
it is sent again: delivery is at least once, as it already is with late acknowledgement
(:func:`~annotator.jobs.service.run_job` skips finished jobs).
"""

from __future__ import annotations

import logging
import uuid

from celery import current_app
from django.db import close_old_connections, models, transaction
from django.utils import timezone

from annotator.choices import JobKind, JobStatus
from annotator.jobs.registry import RUN_JOB_TASK, queue_for
from annotator.jobs.service import run_job
from annotator.models import Job, Project

logger = logging.getLogger(__name__)

# A send that cannot reach the broker gives up after these retries (about 0.3 s in all
# when the broker refuses connections): the request must not hang, the sweep sends later.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}
# Jobs sent by the sweep that follows a successful send inside a request; a worker's
# sweep at (re)connection sends all of them.
REQUEST_SWEEP_LIMIT = 100
# Message priorities on Redis (0 is served first; kombu keeps one list per step 0, 3, 6, 9).
# A job that a dead worker had started goes ahead of new work, so that it resumes at once
# instead of at the back of the queue.
NEW_JOB_PRIORITY = 3
RESUMED_JOB_PRIORITY = 0


def enqueue(kind: JobKind, project: Project, target: models.Model, user) -> Job:
    """Create a queued, unpublished Job row; its task is sent once the transaction commits.

    Sending after commit means a worker never picks up a job whose row it cannot see yet;
    a send that fails (broker down) leaves the row for :func:`publish_pending`.

    Args:
        kind: a kind with a registered runner (see :mod:`annotator.jobs.registry`).
        project: the project the job belongs to.
        target: the row the job works on (an Image, an Export, a VectorImport).
        user: who asked; anonymous or None is recorded as nobody.
    """
    queue_for(kind)  # an unknown kind fails here, before any row is written
    job = Job.objects.create(
        project=project,
        kind=kind,
        target=target,
        created_by=user if user is not None and user.is_authenticated else None,
        celery_task_id=uuid.uuid4().hex,
    )
    transaction.on_commit(lambda: publish_after_commit(job.pk))
    return job


def send(job: Job) -> None:
    """Send the generic task for ``job`` to its runner's queue, with the row's Celery task id.

    The task is sent by name, so this package never imports a task module. A job that was
    started before (re-queued after its worker died) is sent ahead of new work.

    Raises:
        kombu.exceptions.OperationalError (or another error of the broker's client): the
            broker could not be reached.
    """
    current_app.send_task(
        RUN_JOB_TASK,
        args=[job.pk],
        task_id=job.celery_task_id,
        queue=queue_for(job.kind),
        priority=RESUMED_JOB_PRIORITY if job.attempts else NEW_JOB_PRIORITY,
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
    )


def publish(job_id: int) -> bool:
    """Send one queued, unpublished job and stamp ``published_at``; False when there is nothing to send.

    Nothing to send: the job was already sent, is no longer queued (cancelled), is gone,
    or another process holds it right now and is sending it. In eager mode
    (``GEOPROMPT_CELERY_EAGER``, no worker) the job is stamped and then run here.

    Raises:
        the broker client's error when the send fails; the row then stays unpublished.
    """
    eager = current_app.conf.task_always_eager
    with transaction.atomic():
        job = (
            Job.objects.select_for_update(skip_locked=True)
            .filter(pk=job_id, status=JobStatus.QUEUED, published_at__isnull=True)
            .first()
        )
        if job is None:
            return False
        if not eager:
            send(job)
        Job.objects.filter(pk=job.pk).update(published_at=timezone.now())
    if eager:
        run_job(job.pk)
    return True


def publish_pending(limit: int | None = None) -> int:
    """Send the queued jobs that were never sent, oldest first; returns how many were sent.

    Stops at the first failed send (the broker is still down) and logs it.
    """
    pending = Job.objects.filter(status=JobStatus.QUEUED, published_at__isnull=True).order_by("created_at", "id")
    ids = list(pending.values_list("pk", flat=True)[:limit])
    sent = 0
    for job_id in ids:
        try:
            sent += publish(job_id)
        except Exception:
            logger.warning("the broker is unreachable; %d queued job(s) remain unsent", len(ids) - sent, exc_info=True)
            break
    if sent:
        logger.info("sent %d queued job(s) that had not reached the broker", sent)
    return sent


def has_backlog() -> bool:
    """Whether a queued job is waiting to be sent (an index-only look at a usually empty set)."""
    return Job.objects.filter(status=JobStatus.QUEUED, published_at__isnull=True).exists()


def publish_after_commit(job_id: int) -> None:
    """The on-commit hook of :func:`enqueue`: send the job, then whatever an outage left behind.

    Never raises: the rows are committed, so a failed send must not turn the request that
    queued them into a 500. The job waits, unpublished, for the next sweep.
    """
    try:
        publish(job_id)
    except Exception:
        logger.warning("could not send job %s; it stays queued until the broker is back", job_id, exc_info=True)
        return
    if has_backlog():
        publish_pending(limit=REQUEST_SWEEP_LIMIT)


def publish_pending_at_connect() -> int:
    """:func:`publish_pending` for a worker that has just (re)connected to the broker.

    The worker's database connection may have gone stale while the broker was away.
    """
    close_old_connections()
    try:
        return publish_pending()
    finally:
        close_old_connections()
