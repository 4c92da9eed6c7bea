"""API of projects, their members and label classes."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotator import access
from annotator.access import roles_of
from annotator.api.base import ProjectScopedMixin
from annotator.api.permissions import ProjectRolePermission
from annotator.api.projects.serializers import (
    LabelClassOrderSerializer,
    LabelClassSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    ProjectSerializer,
)
from annotator.choices import Role
from annotator.errors import Conflict
from annotator.models import LabelClass, Membership, Project
from annotator.sam2 import encode_jobs
from annotator.team import projects as project_service
from annotator.workflow import labels


class ProjectViewSet(viewsets.ModelViewSet):
    """Projects the caller is a member of, with how many images and annotations each holds.

    Creating one makes the caller its owner; who may create projects is
    ``GEOPROMPT_PROJECT_CREATORS`` (staff, or any signed-in user). Deleting one (owners)
    deletes its images, annotations and every stored file.
    """

    serializer_class = ProjectSerializer
    permission_classes = [ProjectRolePermission]
    required_roles = {"create": Role.VIEWER}

    def get_queryset(self):
        return Project.objects.for_user(self.request.user).distinct().with_counts()

    def create(self, request, *args, **kwargs):
        # Refused before the body is read: the answer does not depend on it.
        access.check(access.project_creation_refusal(request.user))
        return super().create(request, *args, **kwargs)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request.user.is_authenticated:
            context["roles"] = roles_of(self.request.user)
        return context

    def perform_create(self, serializer):
        serializer.instance = project_service.create_project(self.request.user, **serializer.validated_data)
        serializer.context.setdefault("roles", {})[serializer.instance.pk] = Role.OWNER

    def perform_destroy(self, project):
        project_service.delete_project(project)

    def perform_update(self, serializer):
        previous_model = serializer.instance.sam2_model
        with transaction.atomic():
            project = serializer.save()
            if project.sam2_model != previous_model:
                # Features of the old model are deleted and every image is encoded again.
                encode_jobs.reencode_project(project, self.request.user)


class MembershipViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """Members of a project and their roles; only owners change them."""

    def get_queryset(self):
        return Membership.objects.filter(project=self.get_collection_project()).select_related("user", "project")

    def get_serializer_class(self):
        return MembershipUpdateSerializer if self.action in ("update", "partial_update") else MembershipSerializer

    def perform_create(self, serializer):
        serializer.save(project=self.get_collection_project())

    def _other_owners(self, membership: Membership) -> bool:
        return Membership.objects.filter(project=membership.project, role=Role.OWNER).exclude(pk=membership.pk).exists()

    def perform_update(self, serializer):
        membership = serializer.instance
        new_role = serializer.validated_data.get("role", membership.role)
        if membership.role == Role.OWNER and new_role != Role.OWNER and not self._other_owners(membership):
            raise Conflict("A project must keep at least one owner.", field="role")
        serializer.save()

    def perform_destroy(self, membership):
        if membership.role == Role.OWNER and not self._other_owners(membership):
            raise Conflict("A project must keep at least one owner.")
        membership.delete()


class LabelClassViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """Label classes of a project in their order (keys 1-9 follow it), with how many annotations
    use each; only owners change them. A class in use is archived, not deleted (409 ``in_use``)."""

    serializer_class = LabelClassSerializer
    pagination_class = None

    def get_queryset(self):
        classes = LabelClass.objects.filter(project=self.get_collection_project()).order_by("order", "name", "pk")
        return labels.with_usage(classes)

    def perform_create(self, serializer):
        serializer.instance = labels.create_label_class(self.get_collection_project(), **serializer.validated_data)
        serializer.instance.annotation_count = 0

    def perform_update(self, serializer):
        super().perform_update(serializer)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)  # with its annotation_count

    def perform_destroy(self, label_class):
        labels.delete_label_class(label_class)

    @extend_schema(request=LabelClassOrderSerializer, responses=LabelClassSerializer(many=True))
    @action(detail=False, methods=["post"])
    def reorder(self, request, project_pk=None):
        """Put the classes in the order of ``ids`` (every class of the project, archived ones too)."""
        body = LabelClassOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        labels.reorder(self.get_collection_project(), body.validated_data["ids"])
        return Response(self.get_serializer(self.get_queryset(), many=True).data)
