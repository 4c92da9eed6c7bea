"""API of exports: list and start them in a project, read, download (streamed zip), delete.

Reviewers and owners start exports (the rule and its reasons: ``annotator.access.EXPORTER``);
every member lists and downloads them; non-members never see a project's exports (404)."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotator import exports as export_service
from annotator.access import has_role
from annotator.api.base import ProjectScopedMixin
from annotator.api.exports.serializers import ExportCreateSerializer, ExportSerializer
from annotator.api.permissions import ProjectRolePermission
from annotator.choices import Role
from annotator.errors import PermissionDenied
from annotator.models import Export, Project

EXPORT_RELATED = ("created_by", "job", "job__created_by", "job__target_type", "project")


class ProjectExportViewSet(ProjectScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Exports of a project, newest first; reviewers and owners start one.

    ``create`` lets every member through to the service, which refuses those below
    ``EXPORTER`` with a 403 that carries the error code and says who may export.
    """

    serializer_class = ExportSerializer
    required_roles = {"create": Role.VIEWER}

    def get_queryset(self):
        return Export.objects.filter(project=self.get_collection_project()).select_related(*EXPORT_RELATED)

    @extend_schema(request=ExportCreateSerializer, responses={202: ExportSerializer})
    def create(self, request, *args, **kwargs):
        export_service.check_can_export(request.user, self.get_collection_project())
        body = ExportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        export = export_service.create_export(
            self.get_collection_project(), request.user, data["formats"], data.get("filters"), data.get("options")
        )
        return Response(self.get_serializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """One export: its record, its archive, and deletion (owners or its creator)."""

    serializer_class = ExportSerializer
    permission_classes = [ProjectRolePermission]
    required_roles = {"download": Role.VIEWER, "destroy": Role.VIEWER}

    def get_queryset(self):
        return Export.objects.filter(project__in=Project.objects.for_user(self.request.user)).select_related(
            *EXPORT_RELATED
        )

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The export's zip, streamed from storage in chunks."""
        export = self.get_object()
        stream = export_service.open_archive(export)
        return FileResponse(
            stream,
            as_attachment=True,
            filename=f"geoprompt-export-{export.pk}.zip",
            content_type="application/zip",
        )

    def perform_destroy(self, export):
        if export.created_by_id != self.request.user.pk and not has_role(self.request.user, export.project, Role.OWNER):
            raise PermissionDenied("Only the project's owners or the export's creator can delete it.")
        export_service.delete_export(export)
