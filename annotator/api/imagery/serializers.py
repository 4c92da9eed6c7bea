"""Serializers of images. Footprints are GeoJSON in EPSG:4326."""

from __future__ import annotations

import math

import shapely
from rest_framework import serializers

from annotator.api.jobs.serializers import job_summary
from annotator.geometry import rfc7946_bbox, split_antimeridian
from annotator.imagery.tiles import tile_url_template
from annotator.jobs import latest_job_for
from annotator.models import Image


class ImageSerializer(serializers.ModelSerializer):
    footprint = serializers.SerializerMethodField()
    bounds = serializers.SerializerMethodField()
    nodata = serializers.SerializerMethodField()
    tiles = serializers.SerializerMethodField()
    job = serializers.SerializerMethodField()
    encoding = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "project",
            "name",
            "status",
            "error",
            "original_size",
            "width",
            "height",
            "band_count",
            "dtype",
            "nodata",
            "epsg",
            "crs_wkt",
            "geotransform",
            "footprint",
            "bounds",
            "band_mapping",
            "stretch",
            "band_stats",
            "tiles",
            "job",
            "encoding",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_footprint(self, image: Image) -> dict | None:
        """GeoJSON Polygon in EPSG:4326 (RFC 7946: a MultiPolygon split at the antimeridian
        for an image that straddles it)."""
        if image.footprint is None:
            return None
        return shapely.geometry.mapping(split_antimeridian(shapely.from_wkb(bytes(image.footprint.wkb))))

    def get_bounds(self, image: Image) -> list[float] | None:
        """[west, south, east, north] in EPSG:4326 degrees (RFC 7946: west > east for an image
        that straddles the antimeridian)."""
        if image.footprint is None:
            return None
        return rfc7946_bbox(shapely.from_wkb(bytes(image.footprint.wkb)))

    def get_nodata(self, image: Image) -> float | str | None:
        """The nodata value; NaN is given as the string "nan" (JSON has no NaN)."""
        if image.nodata is not None and math.isnan(image.nodata):
            return "nan"
        return image.nodata

    def get_tiles(self, image: Image) -> dict | None:
        """XYZ template for Leaflet with a signed, expiring token; null until a COG exists."""
        if not image.cog_key:
            return None
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return None
        return {"url_template": tile_url_template(image, request.user), "tile_size": 256, "min_zoom": 0, "max_zoom": 22}

    def get_job(self, image: Image) -> dict | None:
        """The latest job on this image (ingest or encode) with its progress, and whether its worker is gone."""
        jobs = self.context.get("latest_jobs")
        job = jobs.get(image.pk) if jobs is not None else latest_job_for(image)
        if job is None:
            return None
        return job_summary(job)

    def get_encoding(self, image: Image) -> dict | None:
        """SAM2 features: model, untrained flag, windows, estimated bytes (windows x 8 MiB), stored bytes."""
        from annotator.sam2.encoding import encoding_summary

        return encoding_summary(image, self.context.get("feature_stats"))


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A GeoTIFF.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)


class ImageImportSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=2048, help_text="s3://bucket/key, an https:// URL of a GeoTIFF/COG, or of a STAC item."
    )
    asset = serializers.CharField(
        required=False, max_length=100, help_text="The STAC item's asset to import (default: visual)."
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)


class ImageImportedSerializer(serializers.Serializer):
    image = ImageSerializer()
    job = serializers.DictField(help_text="The ingest job (it copies the raster first).")


class ImageUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=255)
    band_mapping = serializers.ListField(child=serializers.IntegerField(), required=False)
    stretch = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2), required=False
    )


class EncodeFocusSerializer(serializers.Serializer):
    """``POST /api/v1/images/{id}/encode-focus/``: the annotate page's view, EPSG:4326 degrees."""

    bbox = serializers.ListField(
        child=serializers.FloatField(min_value=-540.0, max_value=540.0),
        min_length=4,
        max_length=4,
        help_text="west, south, east, north in EPSG:4326 degrees",
    )

    def validate_bbox(self, bbox: list[float]) -> list[float]:
        west, south, east, north = bbox
        if not (math.isfinite(west + south + east + north) and -90 <= south < north <= 90 and west < east):
            raise serializers.ValidationError("Give west < east and -90 <= south < north <= 90.")
        return bbox


class EncodeFocusResultSerializer(serializers.Serializer):
    windows = serializers.IntegerField(help_text="windows the view needs first (at most 24)")
    ready = serializers.IntegerField(help_text="of those, already encoded")
    image_windows = serializers.IntegerField(help_text="windows of the whole image")
    image_encoded = serializers.IntegerField(help_text="of those, already encoded")
