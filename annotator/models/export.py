"""Exports: a labelled dataset made from a project's annotations, kept as one zip archive."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ExportFormat(models.TextChoices):
    GEOJSON = "geojson", "GeoJSON (RFC 7946, EPSG:4326)"
    GEOPACKAGE = "gpkg", "GeoPackage"
    SHAPEFILE = "shapefile", "Zipped Shapefile"
    COCO = "coco", "COCO instance segmentation"
    YOLO = "yolo", "YOLO segmentation"
    MASKS = "masks", "Semantic mask GeoTIFFs"
    STAC = "stac", "STAC catalog"


GIS_FORMATS = (ExportFormat.GEOJSON, ExportFormat.GEOPACKAGE, ExportFormat.SHAPEFILE)
CHIP_FORMATS = (ExportFormat.COCO, ExportFormat.YOLO, ExportFormat.MASKS, ExportFormat.STAC)


class Export(models.Model):
    """One export of a project's annotations, run as a Job and kept with what it contains.

    ``filters``: ``{"states": [...], "label_classes": [ids], "images": [ids], "area": GeoJSON
    Polygon in EPSG:4326 or null}``. ``options``: ``{"chip_size": px, "chip_overlap": px,
    "crs": "4326" | "image", "splits": {"train": f, "val": f, "test": f}, "seed": int,
    "block_chips": int, "include_empty_chips": bool}``. ``counts``: annotations, images,
    chips and chips per split. ``archive_key`` is the storage key of the finished zip.
    """

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="exports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    formats = models.JSONField(default=list, help_text="format names, see ExportFormat")
    filters = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    size_bytes = models.BigIntegerField(default=0, help_text="bytes of the zip archive")
    archive_key = models.CharField(max_length=500, blank=True, help_text="storage key of the zip")
    job = models.OneToOneField("annotator.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="export")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"export {self.pk} of project {self.project_id}"

    @property
    def storage_prefix(self) -> str:
        return f"projects/{self.project_id}/exports/{self.pk}"

    @property
    def is_ready(self) -> bool:
        """Whether the archive exists and can be downloaded."""
        return bool(self.archive_key) and self.finished_at is not None
