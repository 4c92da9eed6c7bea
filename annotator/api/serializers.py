from __future__ import annotations

import math

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.choices import Role
from annotator.models import Image, Job, LabelClass, Membership, Project
from annotator.services.jobs import latest_job_for
from annotator.services.tiles import tile_url_template

User = get_user_model()


class ProjectSerializer(serializers.ModelSerializer):
    my_role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "sam2_model", "created_at", "updated_at", "my_role"]
        read_only_fields = ["id", "created_at", "updated_at", "my_role"]

    def validate_sam2_model(self, name: str) -> str:
        """One of the SAM 2.1 models of the registry; changing it re-encodes every image."""
        from annotator.services.sam2_models import MODELS

        if name not in MODELS:
            raise serializers.ValidationError(f"Unknown SAM2 model {name!r}; choose one of {', '.join(MODELS)}.")
        return name

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices))
    def get_my_role(self, project: Project) -> str | None:
        roles = self.context.get("roles")
        if roles is not None:
            return roles.get(project.pk)
        return project.role_of(self.context["request"].user)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.SlugRelatedField(
        source="user", slug_field="username", queryset=User.objects.filter(is_active=True)
    )

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_username(self, user):
        project = self.context["project"]
        existing = Membership.objects.filter(project=project, user=user)
        if self.instance is not None:
            existing = existing.exclude(pk=self.instance.pk)
        if existing.exists():
            raise serializers.ValidationError(f"{user.username} is already a member of this project.")
        return user


class MembershipUpdateSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "username", "created_at"]


class LabelClassSerializer(serializers.ModelSerializer):
    attributes = serializers.JSONField(
        required=False, help_text="[{name, type: text|number|choice|boolean, required, choices}]"
    )

    class Meta:
        model = LabelClass
        fields = ["id", "name", "colour", "order", "attributes"]
        read_only_fields = ["id"]

    def validate_attributes(self, definitions):
        from annotator.errors import InvalidInput
        from annotator.services.annotations import clean_attribute_definitions

        try:
            return clean_attribute_definitions(definitions)
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.message) from None

    def validate_name(self, name: str) -> str:
        project = self.context["project"]
        clash = LabelClass.objects.filter(project=project, name=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError(f"A label class named {name!r} already exists.")
        return name


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
        """GeoJSON Polygon in EPSG:4326."""
        if image.footprint is None:
            return None
        return {"type": "Polygon", "coordinates": image.footprint.coords}

    def get_bounds(self, image: Image) -> list[float] | None:
        """[west, south, east, north] in EPSG:4326 degrees."""
        if image.footprint is None:
            return None
        return list(image.footprint.extent)

    def get_nodata(self, image: Image) -> float | str | None:
        """The nodata value; NaN is given as the string "nan" (JSON has no NaN)."""
        if image.nodata is not None and math.isnan(image.nodata):
            return "nan"
        return image.nodata

    def get_tiles(self, image: Image) -> dict | None:
        """XYZ template for Leaflet with a signed, expiring token; null until a COG exists."""
        if not image.cog_key:
            return None
        return {"url_template": tile_url_template(image), "tile_size": 256, "min_zoom": 0, "max_zoom": 22}

    def get_job(self, image: Image) -> dict | None:
        """The latest job on this image (ingest or encode) with its progress."""
        jobs = self.context.get("latest_jobs")
        job = jobs.get(image.pk) if jobs is not None else latest_job_for(image)
        if job is None:
            return None
        return {"id": job.pk, "kind": job.kind, "status": job.status, "progress": job.progress, "message": job.message}

    def get_encoding(self, image: Image) -> dict | None:
        """SAM2 features: model, untrained flag, windows, estimated bytes (windows x 8 MiB), stored bytes."""
        from annotator.services.encoding import encoding_summary

        return encoding_summary(image, self.context.get("feature_stats"))


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A GeoTIFF.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)


class ImageUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=255)
    band_mapping = serializers.ListField(child=serializers.IntegerField(), required=False)
    stretch = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2), required=False
    )
