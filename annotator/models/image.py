from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models

from annotator.choices import ImageStatus


class Image(models.Model):
    """An uploaded raster and the Cloud-Optimized GeoTIFF made from it.

    Pixel sizes are in pixels of the original raster; ``geotransform`` is GDAL's six
    coefficients in the image's own CRS (``crs_wkt``); ``footprint`` is in EPSG:4326.
    """

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=255)
    original_key = models.CharField(max_length=500, blank=True, help_text="storage key of the upload")
    original_size = models.BigIntegerField(default=0, help_text="bytes")
    source_url = models.CharField(
        max_length=2048, blank=True, help_text="imported by reference: the raster's s3:// or https:// URL"
    )
    cog_key = models.CharField(max_length=500, blank=True, help_text="storage key of the COG")
    status = models.CharField(max_length=16, choices=ImageStatus.choices, default=ImageStatus.UPLOADED)
    error = models.TextField(blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    band_count = models.PositiveIntegerField(null=True, blank=True)
    dtype = models.CharField(max_length=16, blank=True)
    nodata = models.FloatField(null=True, blank=True)
    crs_wkt = models.TextField(blank=True)
    epsg = models.PositiveIntegerField(null=True, blank=True)
    geotransform = models.JSONField(null=True, blank=True, help_text="GDAL order: c, a, b, f, d, e")
    footprint = models.PolygonField(srid=4326, null=True, blank=True)
    band_mapping = models.JSONField(default=list, blank=True, help_text="three 1-based band indexes: R, G, B")
    stretch = models.JSONField(
        default=list, blank=True, help_text="per mapped band [low, high] in source units, mapped to 0-255"
    )
    band_stats = models.JSONField(default=list, blank=True, help_text="per source band: min, max, p2, p98, valid")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def storage_prefix(self) -> str:
        return f"projects/{self.project_id}/images/{self.pk}"
