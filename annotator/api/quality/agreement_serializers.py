"""Serializers of annotator agreement and consensus drafts (figures in metres, IoU 0 to 1)."""

from __future__ import annotations

from rest_framework import serializers

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


class ConsensusRunSerializer(serializers.Serializer):
    """What a consensus run made: the new submitted annotations' ids, the untouched drafts of
    the area it replaced (deleted), the clusters of matched polygons it found, and those it
    left alone because an edited or reviewed consensus annotation already holds a member."""

    created = serializers.ListField(child=serializers.IntegerField())
    replaced = serializers.IntegerField()
    clusters = serializers.IntegerField()
    kept = serializers.IntegerField()
