"""Shared behaviour of the API views: routes scoped to one project."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework.pagination import LimitOffsetPagination

from annotator.api.permissions import ProjectRolePermission
from annotator.models import Project


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


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """``?limit=&offset=`` pages of at most ``max_limit`` rows; an offset past the end gives an
    empty page (the database never sees a number larger than the row count)."""

    default_limit = 100
    max_limit = 1000

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.count)
