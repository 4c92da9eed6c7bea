"""Serializers of the export API. Filters' ``area`` is GeoJSON in EPSG:4326."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from annotator.api.jobs.serializers import WithJob
from annotator.models import Export, ExportFormat


class ExportCreateSerializer(serializers.Serializer):
    """The request shape only; the export service validates the content against the project."""

    formats = serializers.ListField(child=serializers.ChoiceField(choices=ExportFormat.choices), allow_empty=False)
    filters = serializers.DictField(required=False, help_text="states, label_classes, images, area (GeoJSON, 4326)")
    options = serializers.DictField(
        required=False,
        help_text=(
            "chip_size, chip_overlap (px), crs ('4326' | 'image'), splits, seed, block_chips, include_empty_chips"
        ),
    )


class ExportSerializer(WithJob, serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "project",
            "created_by",
            "created_at",
            "finished_at",
            "formats",
            "filters",
            "options",
            "counts",
            "size_bytes",
            "status",
            "job",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, export: Export) -> str | None:
        if not export.is_ready:
            return None
        request = self.context.get("request")
        path = reverse("export-download", args=[export.pk])
        return request.build_absolute_uri(path) if request else path
