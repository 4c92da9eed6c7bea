"""Serializer of Job rows (status, progress, error, and whether its worker is still there)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from annotator.models import Job


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    target = serializers.SerializerMethodField()
    heartbeat_age_s = serializers.SerializerMethodField(
        help_text="Seconds since the worker running it last reported; null unless it is running."
    )
    stalled = serializers.SerializerMethodField(
        help_text="Running, but its worker stopped reporting: it is waiting for a worker to take it over."
    )
    max_attempts = serializers.SerializerMethodField(
        help_text="How many times a job is started before one whose worker keeps dying is failed."
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "project",
            "kind",
            "status",
            "progress",
            "message",
            "error",
            "celery_task_id",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "heartbeat_age_s",
            "stalled",
            "attempts",
            "max_attempts",
            "target",
        ]
        read_only_fields = fields

    def get_target(self, job: Job) -> dict | None:
        if job.target_type_id is None:
            return None
        return {"type": job.target_type.model, "id": job.target_id}

    def get_heartbeat_age_s(self, job: Job) -> float | None:
        age = job.heartbeat_age_s()
        return None if age is None else round(age, 1)

    def get_stalled(self, job: Job) -> bool:
        return job.is_stalled()

    def get_max_attempts(self, job: Job) -> int:
        return settings.JOB_MAX_ATTEMPTS


def job_summary(job: Job) -> dict:
    """The few fields of a job that a page shows next to its target (an image's ingest or encode)."""
    age = job.heartbeat_age_s()
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "stalled": job.is_stalled(),
        "heartbeat_age_s": None if age is None else round(age, 1),
        "attempts": job.attempts,
    }


# Fields of a row that runs as a Job (``obj.job``): the job itself, and its status at the top
# level. A comment, not a docstring: the schema would show it as the description of every
# serializer without one of its own.
class WithJob(serializers.Serializer):
    job = JobSerializer(read_only=True)
    status = serializers.SerializerMethodField()

    def get_status(self, obj) -> str:
        return obj.job.status if obj.job else "unknown"
