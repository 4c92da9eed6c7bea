from __future__ import annotations

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
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES

    def mark_running(self, message: str = "") -> None:
        self.status = JobStatus.RUNNING
        self.started_at = self.started_at or timezone.now()
        self.message = message
        self.save(update_fields=["status", "started_at", "message"])

    def set_progress(self, progress: float, message: str = "") -> None:
        self.progress = min(max(progress, 0.0), 1.0)
        self.message = message
        self.save(update_fields=["progress", "message"])

    def mark_succeeded(self, message: str = "") -> None:
        self.status = JobStatus.SUCCEEDED
        self.progress = 1.0
        self.message = message
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "progress", "message", "finished_at"])

    def mark_failed(self, error: str) -> None:
        self.status = JobStatus.FAILED
        self.error = error
        self.message = "failed"
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "error", "message", "finished_at"])
