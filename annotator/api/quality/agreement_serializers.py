"""Serializers of annotator agreement and consensus drafts (figures in metres, IoU 0 to 1)."""

from __future__ import annotations

from rest_framework import serializers

from annotator.api.jobs.serializers import JobSerializer
from annotator.models import ConsensusRun
from annotator.quality.agreement import DEFAULT_IOU_THRESHOLD


class AgreementQuerySerializer(serializers.Serializer):
    """``?iou=&image=&area=``: the least IoU of a match, and an image or an assigned area to compare."""

    iou = serializers.FloatField(required=False, default=DEFAULT_IOU_THRESHOLD, min_value=0.05, max_value=1.0)
    image = serializers.IntegerField(required=False, min_value=1)
    area = serializers.IntegerField(required=False, min_value=1)


class ConsensusInputSerializer(serializers.Serializer):
    """The assigned area whose annotators' polygons are fused, and the least IoU of a match."""

    area = serializers.IntegerField(min_value=1)
    iou = serializers.FloatField(required=False, default=DEFAULT_IOU_THRESHOLD, min_value=0.05, max_value=1.0)


class ConsensusRunSerializer(serializers.ModelSerializer):
    """A consensus run of an area and its job. Once the job succeeded: the new submitted
    annotations' ids (``created``), the untouched drafts of the area it replaced (deleted),
    the clusters of matched polygons it found, and those it left alone (``kept``) because an
    edited or reviewed consensus annotation already holds a member. Empty before."""

    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    job = JobSerializer(read_only=True)

    class Meta:
        model = ConsensusRun
        fields = [
            "id",
            "project",
            "area",
            "iou_threshold",
            "created_by",
            "created_at",
            "finished_at",
            "created",
            "replaced",
            "clusters",
            "kept",
            "job",
        ]
        read_only_fields = fields
