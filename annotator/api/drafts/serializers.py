"""Serializers of drafts runs (segment everything, find similar); geometries GeoJSON in EPSG:4326."""

from __future__ import annotations

from rest_framework import serializers

from annotator.api.fields import Rfc7946GeometryField
from annotator.api.jobs.serializers import WithJob
from annotator.choices import DraftRunKind
from annotator.models import DraftRun


class DraftRunStartSerializer(serializers.Serializer):
    """The request shape; the drafts service checks the area, the class and every parameter."""

    kind = serializers.ChoiceField(choices=DraftRunKind.choices)
    area = serializers.JSONField(
        required=False, allow_null=True, help_text="GeoJSON Polygon in EPSG:4326; default: the assignment or the image"
    )
    assignment = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)
    label_class = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)
    params = serializers.JSONField(required=False, allow_null=True, help_text="see annotator/drafts/params.py")


class DraftRunSerializer(WithJob, serializers.ModelSerializer):
    """One run: what it was asked, what it made so far (``counts``) and its job."""

    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    area = Rfc7946GeometryField(read_only=True)

    class Meta:
        model = DraftRun
        fields = [
            "id",
            "project",
            "image",
            "kind",
            "area",
            "assignment",
            "label_class",
            "params",
            "counts",
            "model_name",
            "checkpoint_digest",
            "untrained",
            "created_by",
            "created_at",
            "finished_at",
            "status",
            "job",
        ]
        read_only_fields = fields
