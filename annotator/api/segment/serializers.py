"""The segment request: points and box in EPSG:4326 or a named CRS, and outline options."""

from __future__ import annotations

import math

from rest_framework import serializers

from annotator.segment import service as segment_service

MAX_POINTS = segment_service.MAX_POINTS


def _finite(values: list[float]) -> list[float]:
    if not all(math.isfinite(v) for v in values):
        raise serializers.ValidationError("Coordinates must be finite numbers.")
    return values


class PointField(serializers.ListField):
    child = serializers.FloatField()

    def __init__(self, **kwargs):
        super().__init__(min_length=2, max_length=2, validators=[_finite], **kwargs)


# The answer (written by GEOS, not a serializer): a GeoJSON Feature in EPSG:4326 whose geometry
# is a MultiPolygon, or null when the mask is empty.
SEGMENT_FEATURE_SCHEMA = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "geometry": {"type": "object", "nullable": True, "description": "GeoJSON MultiPolygon, EPSG:4326"},
        "properties": {
            "type": "object",
            "description": "score, level, window, model, untrained, session_id, area_m2, vertices, timing_ms... "
            "and with return_all the candidates",
        },
    },
}


class SegmentRequestSerializer(serializers.Serializer):
    positive = serializers.ListField(
        child=PointField(), required=False, default=list, max_length=MAX_POINTS, help_text="[[x, y], ...] in `crs`"
    )
    negative = serializers.ListField(
        child=PointField(), required=False, default=list, max_length=MAX_POINTS, help_text="[[x, y], ...] in `crs`"
    )
    box = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        required=False,
        allow_null=True,
        default=None,
        validators=[_finite],
        help_text="[x0, y0, x1, y1] in `crs`",
    )
    crs = serializers.CharField(default="EPSG:4326", max_length=2000, help_text="CRS of the prompts (x, y order)")
    session_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None, max_length=64)
    simplify_px = serializers.FloatField(
        default=0.5,
        min_value=0.0,
        max_value=100.0,
        help_text="topology-preserving simplification tolerance in window pixels; 0 keeps every pixel corner",
    )
    min_area_px = serializers.FloatField(
        default=segment_service.MIN_AREA_PX,
        min_value=0.0,
        max_value=1_000_000.0,
        help_text="parts and holes smaller than this many window pixels are dropped (holes filled)",
    )
    max_vertices = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=4,
        max_value=1_000_000,
        help_text="simplify further (doubling the tolerance, up to 64 px) until at most this many vertices remain",
    )
    return_all = serializers.BooleanField(default=False, help_text="also return the three candidate masks")

    def validate(self, attrs):
        if not attrs["positive"] and attrs["box"] is None:
            raise serializers.ValidationError({"positive": "Give at least one positive point or a box."})
        return attrs
