"""API of images: upload, import by reference, list, detail, band mapping, delete, the annotate page's view
(encode focus); tus uploads: uploads.py."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from annotator import jobs
from annotator.api.base import ProjectScopedMixin
from annotator.api.imagery.serializers import (
    EncodeFocusResultSerializer,
    EncodeFocusSerializer,
    ImageImportedSerializer,
    ImageImportSerializer,
    ImageSerializer,
    ImageUpdateSerializer,
    ImageUploadSerializer,
)
from annotator.api.jobs.serializers import job_summary
from annotator.api.permissions import ProjectRolePermission
from annotator.choices import Role
from annotator.imagery import images as image_service
from annotator.imagery import pending, references
from annotator.models import Image, Project
from annotator.sam2 import encoding as encoding_service
from annotator.segment import on_demand


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
            "latest_jobs": jobs.latest_jobs_for(page),
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

    @extend_schema(request=ImageImportSerializer, responses={202: ImageImportedSerializer})
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[JSONParser])
    def import_reference(self, request, *args, **kwargs):
        """Add imagery by reference (owners): the URL is checked (allowlist, public addresses, each
        redirect) and a STAC item's asset found now; the ingest job copies the raster, then ingests it."""
        project = self.get_collection_project()
        body = ImageImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        source = references.resolve_source(data["url"], data.get("asset"))
        image, job = pending.create_pending(
            project, request.user, data.get("name") or source.name, size=source.size or 0, source_url=source.url
        )
        context = self.get_serializer_context()
        return Response({"image": ImageSerializer(image, context=context).data, "job": job_summary(job)}, status=202)


class ImageViewSet(
    mixins.RetrieveModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """One image: detail with status, progress and tile URL; owners rename, remap bands, delete."""

    serializer_class = ImageSerializer
    permission_classes = [ProjectRolePermission]
    required_roles = {"encode_focus": Role.ANNOTATOR}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

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
            image_service.set_band_mapping(image, data.get("band_mapping"), data.get("stretch"), request.user)
        return Response(ImageSerializer(image, context=self.get_serializer_context()).data)

    def perform_destroy(self, image):
        image_service.delete_image(image)

    @extend_schema(request=EncodeFocusSerializer, responses=EncodeFocusResultSerializer)
    @action(detail=True, methods=["post"], url_path="encode-focus")
    def encode_focus(self, request, pk=None):
        """The annotate page's view (throttled by the page): its windows are encoded next, after clicks."""
        image = self.get_object()
        body = EncodeFocusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(on_demand.report_view(image, tuple(body.validated_data["bbox"])))
