"""Serializers of assigned areas, tasks and progress. Geometries are GeoJSON in EPSG:4326."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from annotator.access import AREA_ACTIONS, area_actions
from annotator.api.fields import Rfc7946GeometryField
from annotator.models import AnnotationState, AssignedArea

STATES = [s.value for s in AnnotationState]


class StateCountsSerializer(serializers.Serializer):
    """Live annotations in each review state."""

    draft = serializers.IntegerField()
    submitted = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()


class AreaProgressSerializer(serializers.Serializer):
    """An area's figures: its surface and the part covered by submitted and approved
    annotations (m², geodesic), ``completion`` (0 to 1), and annotations meeting it by state."""

    area_m2 = serializers.FloatField()
    covered_m2 = serializers.FloatField()
    completion = serializers.FloatField()
    count = serializers.IntegerField()
    by_state = StateCountsSerializer()


class AssignedAreaSerializer(GeoFeatureModelSerializer):
    """An assigned area as a GeoJSON Feature (Polygon, EPSG:4326) with its progress and what
    the caller may do with it (``allowed_actions``: ``edit``, ``delete``; from :mod:`annotator.access`).

    The view passes the caller's project role as ``role`` and the areas' figures as
    ``progress`` (by area id) in the context.
    """

    assignee = serializers.CharField(source="assignee.username", read_only=True, default=None)
    geometry = Rfc7946GeometryField(read_only=True)
    progress = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()

    class Meta:
        model = AssignedArea
        geo_field = "geometry"
        fields = ["id", "project", "image", "name", "assignee", "created_at", "progress", "allowed_actions"]
        read_only_fields = fields

    @extend_schema_field(AreaProgressSerializer(allow_null=True))
    def get_progress(self, area: AssignedArea) -> dict | None:
        return self.context.get("progress", {}).get(area.pk)

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=AREA_ACTIONS)))
    def get_allowed_actions(self, area: AssignedArea) -> list[str]:
        return area_actions(self.context.get("role"))


class AssignedAreaInputSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    geometry = serializers.JSONField(help_text="GeoJSON Polygon, EPSG:4326")
    assignee = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="a member's username; empty or null: nobody"
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class AssigneeSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()


class TaskSerializer(serializers.Serializer):
    """One task: an area assigned to the caller, or one of their annotations to fix."""

    kind = serializers.ChoiceField(choices=["area", "rejected"])
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    project_name = serializers.CharField()
    image = serializers.IntegerField(source="image_id")
    image_name = serializers.CharField()
    name = serializers.CharField()
    bbox = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4, help_text="west, south, east, north (EPSG:4326)"
    )
    url = serializers.CharField(help_text="the annotate page, opened on the task")
    progress = AreaProgressSerializer(allow_null=True, help_text="areas only")
    label_class_name = serializers.CharField(allow_null=True)
    comment = serializers.CharField(allow_blank=True, help_text="rejected annotations: the reason's first line")
    reviewed_by = serializers.CharField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)


class TaskListSerializer(serializers.Serializer):
    tasks = TaskSerializer(many=True)
    truncated = serializers.BooleanField(help_text="there were more tasks of a kind than one answer holds")


class NextTaskSerializer(serializers.Serializer):
    task = TaskSerializer(allow_null=True, help_text="null: no other task is left")
    remaining = serializers.IntegerField(help_text="tasks in the list, the current one included")


class TaskQuerySerializer(serializers.Serializer):
    project = serializers.IntegerField(required=False, help_text="only this project's tasks")


class NextTaskQuerySerializer(TaskQuerySerializer):
    kind = serializers.ChoiceField(choices=["area", "rejected"], required=False, help_text="the current task's kind")
    id = serializers.IntegerField(required=False, help_text="the current task's id")


class ImageProgressSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    name = serializers.CharField()
    count = serializers.IntegerField()
    area_m2 = serializers.FloatField()
    by_state = StateCountsSerializer()


class ProjectAreaProgressSerializer(AreaProgressSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    image = serializers.IntegerField()
    image_name = serializers.CharField()
    assignee = serializers.CharField(allow_null=True)


class ProjectProgressSerializer(serializers.Serializer):
    images = ImageProgressSerializer(many=True)
    areas = ProjectAreaProgressSerializer(many=True)
    areas_truncated = serializers.BooleanField()
