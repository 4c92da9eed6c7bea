"""API of background jobs: read their rows, cancel them, retry them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotator import jobs as job_service
from annotator.access import has_role
from annotator.api.base import ProjectScopedMixin
from annotator.api.jobs.serializers import JobSerializer
from annotator.api.permissions import ProjectRolePermission
from annotator.choices import Role
from annotator.errors import PermissionDenied
from annotator.models import Job, Project


class ProjectJobViewSet(ProjectScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Background jobs of a project, newest first."""

    serializer_class = JobSerializer

    def get_queryset(self):
        return Job.objects.filter(project=self.get_collection_project()).select_related("created_by", "target_type")


class JobViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One job's state, progress and error, read from its row."""

    serializer_class = JobSerializer
    permission_classes = [ProjectRolePermission]
    required_roles = {"cancel": Role.ANNOTATOR, "retry": Role.OWNER}

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

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Queue a failed, cancelled or stuck job again (owners); 409 ``job_running`` while its worker reports."""
        job = job_service.retry(self.get_object())
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
