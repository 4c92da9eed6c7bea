"""The one Celery task that runs every job, and the worker steps that send jobs an outage held back
and re-queue jobs whose worker died."""

from __future__ import annotations

import logging

from celery import bootsteps, current_app, shared_task

from annotator import jobs

logger = logging.getLogger(__name__)


@shared_task(name=jobs.RUN_JOB_TASK)
def run_job_task(job_id: int) -> None:
    """Run the job whose row has ``job_id``; the row's kind picks the runner (and the queue it was sent to)."""
    jobs.run_job(job_id)


class PublishPendingJobs(bootsteps.StartStopStep):
    """Each time a worker's consumer (re)connects to the broker, send the queued jobs never sent.

    A consumer step rather than ``worker_ready``: ``start`` runs at the first connection
    and again after every reconnection, so jobs queued while the broker was down are
    sent as soon as it is back, even if no worker restarts (there is no Celery beat).
    """

    requires = ("celery.worker.consumer.connection:Connection",)

    def start(self, parent) -> None:
        try:
            jobs.publish_pending_at_connect()
        except Exception:
            # A database outage must not stop the worker from consuming what is queued.
            logger.exception("could not send the queued jobs that had not reached the broker")


class SweepStaleJobs(bootsteps.StartStopStep):
    """Every worker re-queues the running jobs whose worker died: once at start, then every few seconds.

    A thread in the worker's main process (:class:`annotator.jobs.JobSweeper`), so it keeps
    sweeping while this worker runs a long job itself, whatever the pool (there is no Celery beat).
    """

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self.sweeper: jobs.JobSweeper | None = None

    def start(self, parent) -> None:
        self.sweeper = jobs.JobSweeper()
        self.sweeper.start()

    def stop(self, parent) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None


current_app.steps["consumer"].add(PublishPendingJobs)
current_app.steps["worker"].add(SweepStaleJobs)
