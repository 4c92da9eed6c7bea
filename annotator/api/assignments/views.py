"""API of assigned areas, a member's tasks and a project's progress.

Short views: the request's shape is checked here, the behaviour is
:mod:`annotator.workflow.assignments`'s. Geometries are GeoJSON in EPSG:4326."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from annotator import access
from annotator.api.assignments import serializers as s
from annotator.api.base import ProjectScopedMixin
from annotator.api.permissions import caller_role
from annotator.api.schema import GeopromptAutoSchema
from annotator.models import AssignedArea, Project
from annotator.workflow import assignments
from annotator.workflow.dashboard import area_progress


class OneObjectSchema(GeopromptAutoSchema):
    """The schema of a view whose ``list`` route answers one object (a summary), not an array."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


class AssignedAreaViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """Areas of the project's images given to members, with their completion; ``?image=``
    filters. Reviewers and owners draw, assign and delete them; annotators see their own,
    other members all."""

    serializer_class = s.AssignedAreaSerializer
    pagination_class = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_roles = {
        "create": access.AREA_MANAGER,
        "partial_update": access.AREA_MANAGER,
        "destroy": access.AREA_MANAGER,
        "assignees": access.AREA_MANAGER,
    }

    def get_queryset(self):
        project = self.get_collection_project()
        queryset = AssignedArea.objects.filter(project=project).select_related("assignee", "project")
        if access.sees_only_own_areas(caller_role(self.request, project)):
            queryset = queryset.filter(assignee=self.request.user)
        image = self.request.query_params.get("image")
        if image is not None and image.isdigit():
            queryset = queryset.filter(image_id=int(image))
        return queryset

    def _respond(self, areas, many: bool, code: int = status.HTTP_200_OK) -> Response:
        items = list(areas) if many else [areas]
        context = {
            **self.get_serializer_context(),
            "progress": area_progress(a.pk for a in items),
            "role": caller_role(self.request, self.get_collection_project()),
        }
        return Response(
            s.AssignedAreaSerializer(items if many else areas, many=many, context=context).data, status=code
        )

    def list(self, request, *args, **kwargs):
        return self._respond(self.get_queryset(), many=True)

    def retrieve(self, request, *args, **kwargs):
        return self._respond(self.get_object(), many=False)

    @extend_schema(request=s.AssignedAreaInputSerializer, responses={201: s.AssignedAreaSerializer})
    def create(self, request, *args, **kwargs):
        body = s.AssignedAreaInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        data["image_id"] = data.pop("image")
        area = assignments.create_area(self.get_collection_project(), request.user, **data)
        return self._respond(area, many=False, code=status.HTTP_201_CREATED)

    @extend_schema(request=s.AssignedAreaInputSerializer, responses=s.AssignedAreaSerializer)
    def partial_update(self, request, *args, **kwargs):
        area = self.get_object()
        body = s.AssignedAreaInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "image" in changes:
            changes["image_id"] = changes.pop("image")
        area = assignments.update_area(area, request.user, **changes)
        return self._respond(area, many=False)

    def destroy(self, request, *args, **kwargs):
        assignments.delete_area(self.get_object(), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=s.AssigneeSerializer(many=True))
    @action(detail=False, methods=["get"])
    def assignees(self, request, project_pk=None):
        """The members an area may be given to (those who may annotate), by username."""
        members = assignments.assignable_members(self.get_collection_project())
        return Response(s.AssigneeSerializer(members, many=True).data)


class TaskViewSet(viewsets.ViewSet):
    """The caller's tasks: the areas assigned to them and their rejected annotations, in
    every project they belong to (``?project=`` for one)."""

    permission_classes = [IsAuthenticated]
    schema = OneObjectSchema()

    def _tasks(self, request, query_class=s.TaskQuerySerializer):
        query = query_class(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = None
        if "project" in query.validated_data:
            project = get_object_or_404(Project.objects.for_user(request.user), pk=query.validated_data["project"])
        return assignments.tasks_of(request.user, project), query.validated_data

    @extend_schema(parameters=[s.TaskQuerySerializer], responses=s.TaskListSerializer)
    def list(self, request):
        tasks, _ = self._tasks(request)
        return Response(s.TaskListSerializer(tasks).data)

    @extend_schema(parameters=[s.NextTaskQuerySerializer], responses=s.NextTaskSerializer)
    @action(detail=False, methods=["get"])
    def next(self, request):
        """The task after the current one (``kind`` and ``id``), going round; the first when
        none is given or the current one is done."""
        tasks, query = self._tasks(request, s.NextTaskQuerySerializer)
        following = tasks.after(query.get("kind"), query.get("id"))
        task = s.TaskSerializer(following).data if following else None
        return Response({"task": task, "remaining": len(tasks.tasks)})


class ProjectProgressViewSet(ProjectScopedMixin, viewsets.GenericViewSet):
    """Per image, live annotations by state; per area, its completion (every member)."""

    pagination_class = None
    schema = OneObjectSchema()

    @extend_schema(responses=s.ProjectProgressSerializer)
    def list(self, request, project_pk=None):
        return Response(assignments.project_progress(self.get_collection_project()))
