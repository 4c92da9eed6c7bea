"""REST API views: short; behaviour lives in services and models."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from annotator.api.permissions import ProjectRolePermission, has_role
from annotator.api.serializers import (
    ImageSerializer,
    ImageUpdateSerializer,
    ImageUploadSerializer,
    JobSerializer,
    LabelClassSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    ProjectSerializer,
)
from annotator.choices import Role
from annotator.errors import Conflict, PermissionDenied
from annotator.models import Image, Job, LabelClass, Membership, Project
from annotator.services import encoding as encoding_service
from annotator.services import images as image_service
from annotator.services import jobs as job_service


class ProjectScopedMixin:
    """Collection routes under ``/projects/{project_pk}/``; non-members get 404."""

    permission_classes = [ProjectRolePermission]

    def get_collection_project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = get_object_or_404(Project.objects.for_user(self.request.user), pk=self.kwargs["project_pk"])
        return self._project

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "project_pk" in self.kwargs:
            context["project"] = self.get_collection_project()
        return context


class ProjectViewSet(viewsets.ModelViewSet):
    """Projects the caller is a member of. Creating one makes the caller its owner."""

    serializer_class = ProjectSerializer
    permission_classes = [ProjectRolePermission]
    required_roles = {"create": Role.VIEWER}

    def get_queryset(self):
        return Project.objects.for_user(self.request.user).distinct()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request.user.is_authenticated:
            context["roles"] = dict(Membership.objects.filter(user=self.request.user).values_list("project_id", "role"))
        return context

    def perform_create(self, serializer):
        with transaction.atomic():
            project = serializer.save(created_by=self.request.user)
            Membership.objects.create(project=project, user=self.request.user, role=Role.OWNER)
        serializer.context.setdefault("roles", {})[project.pk] = Role.OWNER

    def perform_update(self, serializer):
        previous_model = serializer.instance.sam2_model
        with transaction.atomic():
            project = serializer.save()
            if project.sam2_model != previous_model:
                # Features of the old model are deleted and every image is encoded again.
                encoding_service.reencode_project(project, self.request.user)


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
    """Label classes of a project (name, colour, order); only owners change them."""

    serializer_class = LabelClassSerializer
    pagination_class = None

    def get_queryset(self):
        return LabelClass.objects.filter(project=self.get_collection_project())

    def perform_create(self, serializer):
        serializer.save(project=self.get_collection_project())


def _with_latest_jobs(images) -> dict[int, Job]:
    ids = [image.pk for image in images]
    image_type = ContentType.objects.get_for_model(Image)
    latest = Job.objects.filter(target_type=image_type, target_id=OuterRef("target_id")).order_by("-created_at", "-id")
    jobs = Job.objects.filter(target_type=image_type, target_id__in=ids, pk=Subquery(latest.values("pk")[:1]))
    return {job.target_id: job for job in jobs}


class ProjectImageViewSet(ProjectScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Images of a project. Upload is multipart with the GeoTIFF in ``file``; owners upload."""

    serializer_class = ImageSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return Image.objects.filter(project=self.get_collection_project()).select_related("project")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = {
            **self.get_serializer_context(),
            "latest_jobs": _with_latest_jobs(page),
            "feature_stats": encoding_service.feature_stats(page),
        }
        return self.get_paginated_response(ImageSerializer(page, many=True, context=context).data)

    @extend_schema(request={"multipart/form-data": ImageUploadSerializer}, responses={201: ImageSerializer})
    def create(self, request, *args, **kwargs):
        project = self.get_collection_project()
        upload = ImageUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        image, _job = image_service.create_from_upload(
            project, upload.validated_data["file"], request.user, upload.validated_data.get("name", "")
        )
        return Response(ImageSerializer(image, context=self.get_serializer_context()).data, status=201)


class ImageViewSet(
    mixins.RetrieveModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """One image: detail with status, progress and tile URL; owners rename, remap bands, delete."""

    serializer_class = ImageSerializer
    permission_classes = [ProjectRolePermission]
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return Image.objects.filter(project__in=Project.objects.for_user(self.request.user)).select_related("project")

    @extend_schema(request=ImageUpdateSerializer, responses=ImageSerializer)
    def partial_update(self, request, *args, **kwargs):
        image = self.get_object()
        changes = ImageUpdateSerializer(data=request.data)
        changes.is_valid(raise_exception=True)
        data = changes.validated_data
        if "name" in data:
            image.name = image_service.clean_name(data["name"])
            image.save(update_fields=["name", "updated_at"])
        if "band_mapping" in data or "stretch" in data:
            image_service.set_band_mapping(image, data.get("band_mapping"), data.get("stretch"))
        return Response(ImageSerializer(image, context=self.get_serializer_context()).data)

    def perform_destroy(self, image):
        image_service.delete_image(image)


class ProjectJobViewSet(ProjectScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Background jobs of a project, newest first."""

    serializer_class = JobSerializer

    def get_queryset(self):
        return Job.objects.filter(project=self.get_collection_project()).select_related("created_by", "target_type")


class JobViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One job's state, progress and error, read from its row."""

    serializer_class = JobSerializer
    permission_classes = [ProjectRolePermission]
    required_roles = {"cancel": Role.ANNOTATOR}

    def get_queryset(self):
        return Job.objects.filter(project__in=Project.objects.for_user(self.request.user)).select_related(
            "created_by", "target_type", "project"
        )

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a queued or running job (owners, or the member who started it)."""
        job = self.get_object()
        if job.created_by_id != request.user.pk and not has_role(request.user, job.project, Role.OWNER):
            raise PermissionDenied("Only the project's owners or the job's creator can cancel it.")
        job = job_service.cancel(job)
        return Response(JobSerializer(job).data, status=status.HTTP_200_OK)
