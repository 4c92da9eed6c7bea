"""Serializers of projects, members and label classes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.access import role_of
from annotator.choices import Role
from annotator.models import LabelClass, Membership, Project
from annotator.team import projects as project_service

User = get_user_model()


class ProjectSerializer(serializers.ModelSerializer):
    my_role = serializers.SerializerMethodField()
    image_count = serializers.SerializerMethodField(help_text="images in the project")
    annotation_count = serializers.SerializerMethodField(help_text="annotations in the project (deleted ones aside)")

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "sam2_model",
            "require_label",
            "created_at",
            "updated_at",
            "my_role",
            "image_count",
            "annotation_count",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "my_role", "image_count", "annotation_count"]

    def get_image_count(self, project: Project) -> int:
        return project_service.contents(project).images

    def get_annotation_count(self, project: Project) -> int:
        return project_service.contents(project).annotations

    def validate_sam2_model(self, name: str) -> str:
        """One of the SAM 2.1 models of the registry; changing it re-encodes every image."""
        from annotator.sam2.registry import MODELS

        if name not in MODELS:
            raise serializers.ValidationError(f"Unknown SAM2 model {name!r}; choose one of {', '.join(MODELS)}.")
        return name

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices))
    def get_my_role(self, project: Project) -> str | None:
        roles = self.context.get("roles")
        if roles is not None:
            return roles.get(project.pk)
        return role_of(self.context["request"].user, project)


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
    """A label class. ``order`` changes only through the reorder action (new classes go last);
    ``annotation_count`` is how many live annotations use it (a used class is archived, not
    deleted)."""

    attributes = serializers.JSONField(
        required=False, help_text="[{name, type: text|number|choice|boolean, required, choices}]"
    )
    annotation_count = serializers.IntegerField(read_only=True, help_text="live annotations with this class")

    class Meta:
        model = LabelClass
        fields = ["id", "name", "colour", "order", "archived", "attributes", "annotation_count"]
        read_only_fields = ["id", "order", "annotation_count"]

    def validate_attributes(self, definitions):
        from annotator.errors import InvalidInput
        from annotator.workflow.annotations import clean_attribute_definitions

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


class LabelClassOrderSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="every label class id of the project, in the new order"
    )
