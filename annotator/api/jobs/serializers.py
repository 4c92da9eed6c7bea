"""Serializer of Job rows (status, progress, error)."""

from __future__ import annotations

from rest_framework import serializers

from annotator.models import Job


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    target = serializers.SerializerMethodField()

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
            "target",
        ]
        read_only_fields = fields

    def get_target(self, job: Job) -> dict | None:
        if job.target_type_id is None:
            return None
        return {"type": job.target_type.model, "id": job.target_id}
