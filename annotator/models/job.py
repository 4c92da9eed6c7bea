from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from annotator.choices import FINISHED_JOB_STATUSES, JobKind, JobStatus


class Job(models.Model):
    """A background job. The API reports these rows, never the broker's state."""

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="when its task reached the broker; null: not yet (annotator.jobs.outbox)"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Liveness (annotator.jobs.liveness): who runs it, since when it said nothing.
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="when the worker running it last said it is alive (every JOB_HEARTBEAT_S)"
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="how many times a worker has started it")
    attempt_token = models.CharField(
        max_length=32, blank=True, help_text="the current run's claim; a run whose token is gone stops"
    )
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running it")
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["project", "-created_at"]),
            # The outbox's backlog: small (empty unless the broker was down), asked after every send.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status=JobStatus.QUEUED, published_at__isnull=True),
                name="job_unpublished",
            ),
            # The liveness sweep's question: running jobs by heartbeat (a handful at any time).
            models.Index(
                fields=["heartbeat_at"], condition=models.Q(status=JobStatus.RUNNING), name="job_running_heartbeat"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES

    def heartbeat_age_s(self, now: datetime | None = None) -> float | None:
        """Seconds since the worker running it last said it is alive; None unless it is running."""
        if self.status != JobStatus.RUNNING:
            return None
        beat = self.heartbeat_at or self.started_at or self.created_at
        return max(((now or timezone.now()) - beat).total_seconds(), 0.0)

    def is_stalled(self, now: datetime | None = None) -> bool:
        """Running, but its worker said nothing for over ``JOB_STALE_S``: it died, and the job waits to be re-queued."""
        age = self.heartbeat_age_s(now)
        return age is not None and age > settings.JOB_STALE_S

    def _own_row(self) -> models.QuerySet:
        """This row while this object's run holds it: running, with its attempt token (when it was claimed).

        Writes through it do nothing once the job was cancelled, re-queued or retried, so a
        run that lost the job never overwrites what the new state says.
        """
        rows = Job.objects.filter(pk=self.pk)
        if self.attempt_token:
            rows = rows.filter(status=JobStatus.RUNNING, attempt_token=self.attempt_token)
        return rows

    def mark_running(self, message: str = "") -> None:
        """Mark the job running here without a claim (``annotator.jobs.liveness.claim`` is how workers start jobs)."""
        now = timezone.now()
        self.status = JobStatus.RUNNING
        self.started_at = self.started_at or now
        self.heartbeat_at = now
        self.message = message
        self.save(update_fields=["status", "started_at", "heartbeat_at", "message"])

    def set_progress(self, progress: float, message: str = "") -> bool:
        """Record progress (0 to 1) and a message; it is a heartbeat too. False: the run no longer holds the job."""
        self.progress = min(max(progress, 0.0), 1.0)
        self.message = message
        self.heartbeat_at = timezone.now()
        return bool(self._own_row().update(progress=self.progress, message=message, heartbeat_at=self.heartbeat_at))

    def mark_succeeded(self, message: str = "") -> bool:
        """Finish the run; False (nothing written) when it no longer holds the job."""
        self.status = JobStatus.SUCCEEDED
        self.progress = 1.0
        self.message = message
        self.finished_at = timezone.now()
        return bool(
            self._own_row().update(status=self.status, progress=1.0, message=message, finished_at=self.finished_at)
        )

    def mark_failed(self, error: str) -> bool:
        """Fail the run with ``error`` (shown to users); False (nothing written) when it no longer holds the job."""
        self.status = JobStatus.FAILED
        self.error = error
        self.message = "failed"
        self.finished_at = timezone.now()
        return bool(
            self._own_row().update(status=self.status, error=error, message="failed", finished_at=self.finished_at)
        )
