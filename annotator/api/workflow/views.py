"""API of the annotation workflow: annotations, history, review, areas, comments, dashboard.

Short views: validation of the request shape here, behaviour in ``annotator.services``.
Geometries are GeoJSON in EPSG:4326."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.contrib.gis.db.models.functions import PointOnSurface
from django.contrib.gis.geos import Polygon
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from annotator.api.base import ProjectScopedMixin
from annotator.api.permissions import ProjectRolePermission, caller_access
from annotator.api.workflow import serializers as s
from annotator.choices import Role
from annotator.errors import InvalidInput
from annotator.models import Annotation, AssignedArea, CommentThread, Image, Job, Project, VectorImport
from annotator.workflow import annotation_list
from annotator.workflow import annotations as annotation_service
from annotator.workflow import comments as comment_service
from annotator.workflow import dashboard as dashboard_service
from annotator.workflow import review as review_service
from annotator.workflow import vector_import as import_service


def _etag(annotation: Annotation) -> str:
    return f'"{annotation.version}"'


def _feature_response(request, annotation: Annotation, code: int = status.HTTP_200_OK) -> Response:
    """One annotation as a GeoJSON Feature with its ETag and the caller's allowed actions.

    ``annotation.project`` should be loaded with it (``select_related``): the caller's
    role comes from the request, the project's self-approval rule from the project.
    """
    context = {"access": caller_access(request, annotation.project)}
    response = Response(s.AnnotationFeatureSerializer(annotation, context=context).data, status=code)
    response["ETag"] = _etag(annotation)
    return response


def _parse_bbox(text: str) -> Polygon:
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput("bbox must be west,south,east,north in degrees (EPSG:4326).", field="bbox") from None
    if not (west < east and south < north):
        raise InvalidInput("bbox must have west < east and south < north.", field="bbox")
    polygon = Polygon.from_bbox((west, south, east, north))
    polygon.srid = 4326
    return polygon


class ProjectAnnotationViewSet(ProjectScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Annotations of a project as a paginated GeoJSON FeatureCollection; annotators create."""

    serializer_class = s.AnnotationFeatureSerializer
    pagination_class = s.AnnotationPagination
    required_roles = {"create": Role.ANNOTATOR, "counts": Role.VIEWER}

    @extend_schema(parameters=[s.AnnotationFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_serializer_context(self):
        # The caller's role was looked up by the permission check: no query per row.
        access = caller_access(self.request, self.get_collection_project())
        return {**super().get_serializer_context(), "access": access}

    def _filters(self) -> annotation_list.AnnotationFilters:
        query = s.AnnotationFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        f = query.validated_data
        return annotation_list.AnnotationFilters(
            image_id=f.get("image"),
            bbox=_parse_bbox(f["bbox"]) if "bbox" in f else None,
            states=frozenset(f.get("state") or ()),
            label_class_id=f.get("label_class"),
            author_username=f.get("author"),
            author_id=self.request.user.pk if f.get("mine") else None,
            source=f.get("source"),
            has_open_comments=f.get("has_open_comments"),
        )

    def get_queryset(self):
        queryset = annotation_list.annotations(self.get_collection_project(), self._filters())
        return queryset.select_related("author", "reviewed_by", "label_class")

    @extend_schema(parameters=[s.AnnotationFilterSerializer], responses=s.AnnotationCountsSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def counts(self, request, project_pk=None):
        """How many annotations pass the list's filters in each review state (the ``state``
        filter is ignored here, so each state's number is what choosing it would list)."""
        counts = annotation_list.state_counts(self.get_collection_project(), self._filters())
        return Response({"counts": counts, "total": sum(counts.values())})

    @extend_schema(request=s.AnnotationCreateSerializer, responses={201: s.AnnotationFeatureSerializer})
    def create(self, request, *args, **kwargs):
        project = self.get_collection_project()
        body = s.AnnotationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        image = Image.objects.filter(project=project, pk=data["image"]).first()
        if image is None:
            raise InvalidInput(f"Image {data['image']} is not in this project.", field="image")
        annotation = annotation_service.create_annotation(
            image,
            request.user,
            data["geometry"],
            label_class_id=data.get("label_class"),
            attributes=data.get("attributes"),
            source=data["source"],
            sam=data.get("sam"),
            session_id=data.get("session_id"),
        )
        annotation.project = project  # the row already loaded: no query for it
        return _feature_response(request, annotation, status.HTTP_201_CREATED)


class AnnotationViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One annotation: read, edit (naming its version), delete, history and review steps."""

    serializer_class = s.AnnotationFeatureSerializer
    permission_classes = [ProjectRolePermission]
    http_method_names = ["get", "patch", "delete", "post", "head", "options"]
    required_roles = {
        "partial_update": Role.ANNOTATOR,
        "destroy": Role.ANNOTATOR,
        "history": Role.VIEWER,
        "submit": Role.ANNOTATOR,
        "approve": Role.REVIEWER,
        "reject": Role.REVIEWER,
    }

    def get_queryset(self):
        queryset = Annotation.objects.filter(project__in=Project.objects.for_user(self.request.user))
        if self.action != "history":
            queryset = queryset.live()
        return queryset.select_related("project", "author", "reviewed_by", "label_class")

    def retrieve(self, request, *args, **kwargs):
        return _feature_response(request, self.get_object())

    @extend_schema(request=s.AnnotationUpdateSerializer, responses=s.AnnotationFeatureSerializer)
    def partial_update(self, request, *args, **kwargs):
        annotation = self.get_object()
        body = s.AnnotationUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        changes = {k: data[k] for k in ("geometry", "attributes") if k in data}
        if "label_class" in data:
            changes["label_class_id"] = data["label_class"]
        annotation = annotation_service.update_annotation(
            annotation.pk,
            request.user,
            expected_version=annotation_service.parse_version(data.get("version"), request.headers.get("If-Match")),
            **changes,
        )
        return _feature_response(request, annotation)

    def destroy(self, request, *args, **kwargs):
        annotation = self.get_object()
        version = annotation_service.parse_version(request.data.get("version"), request.headers.get("If-Match"))
        annotation_service.delete_annotation(annotation.pk, request.user, expected_version=version)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=s.AnnotationVersionSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole history, not a page
    def history(self, request, pk=None):
        """Every version of the annotation, oldest first (deleted annotations included)."""
        annotation = self.get_object()
        versions = annotation.versions.select_related("user").order_by("version")
        return Response(s.AnnotationVersionSerializer(versions, many=True).data)

    def _transition(self, request, name: str) -> Response:
        annotation = self.get_object()
        body = s.TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = annotation_service.parse_version(body.validated_data.get("version"), request.headers.get("If-Match"))
        annotation = review_service.transition(
            annotation.pk,
            name,
            request.user,
            comment=body.validated_data.get("comment", ""),
            expected_version=version,
        )
        return _feature_response(request, annotation)

    @extend_schema(request=s.TransitionSerializer, responses=s.AnnotationFeatureSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """draft → submitted (the author, a reviewer or an owner)."""
        return self._transition(request, "submit")

    @extend_schema(request=s.TransitionSerializer, responses=s.AnnotationFeatureSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """submitted → approved (reviewers and owners; not one's own unless the project allows)."""
        return self._transition(request, "approve")

    @extend_schema(request=s.TransitionSerializer, responses=s.AnnotationFeatureSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """submitted → rejected, with a required comment (reviewers and owners)."""
        return self._transition(request, "reject")


class ReviewViewSet(ProjectScopedMixin, viewsets.GenericViewSet):
    """The review queue of a project: the next annotation, the filtered list, bulk approval."""

    required_roles = {
        "next": Role.REVIEWER,
        "queue": Role.REVIEWER,
        "bulk_approve": Role.REVIEWER,
        "bulk_by_risk": Role.REVIEWER,
    }
    serializer_class = s.AnnotationFeatureSerializer
    pagination_class = s.AnnotationPagination

    def _queue_filters(self, project, data=None) -> review_service.QueueFilters:
        query = s.ReviewQueueQuerySerializer(data=self.request.query_params if data is None else data)
        query.is_valid(raise_exception=True)
        f = query.validated_data
        area = None
        if "area" in f:
            area = AssignedArea.objects.filter(project=project, pk=f["area"]).first()
            if area is None:
                raise InvalidInput("No such area in this project.", field="area")
        return review_service.QueueFilters(
            image_id=f.get("image"),
            area=area,
            author=f.get("author"),
            label_class_id=f.get("label_class"),
            run=f.get("run"),
            order=f.get("order") or "submitted",
            unscored=f.get("unscored") or "last",
        )

    @extend_schema(parameters=[s.ReviewQueueQuerySerializer], responses=s.ReviewNextSerializer)
    @action(detail=False, methods=["get"])
    def next(self, request, project_pk=None):
        """The oldest submitted annotation (optionally of one image, area, author or class),
        its neighbours (a FeatureCollection) and how many remain in the queue."""
        project = self.get_collection_project()
        item = review_service.next_for_review(project, request.user, self._queue_filters(project))
        context = {"access": caller_access(request, project)}
        return Response(
            {
                "annotation": (
                    s.AnnotationFeatureSerializer(item.annotation, context=context).data if item.annotation else None
                ),
                "neighbours": s.AnnotationFeatureSerializer(item.neighbours, many=True, context=context).data,
                "remaining": item.remaining,
            }
        )

    @extend_schema(parameters=[s.ReviewQueueQuerySerializer], responses=s.AnnotationFeatureSerializer(many=True))
    @action(detail=False, methods=["get"])
    def queue(self, request, project_pk=None):
        """The annotations the caller may review (submitted ones; a run's drafts too), filtered
        by image, area, author, label class and drafting run, oldest submission first or by
        risk (``order``): pages of a GeoJSON FeatureCollection with each one's risk and parts."""
        project = self.get_collection_project()
        queryset = review_service.review_queue(project, request.user, self._queue_filters(project))
        page = self.paginate_queryset(queryset.select_related("author", "reviewed_by", "label_class"))
        context = {"access": caller_access(request, project)}
        return self.get_paginated_response(s.AnnotationFeatureSerializer(page, many=True, context=context).data)

    @extend_schema(request=s.BulkApproveSerializer, responses=s.BulkApproveResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-approve")
    def bulk_approve(self, request, project_pk=None):
        """Approve the selected annotations, each exactly as a single approval (one review
        event each); the ones the caller may not approve are listed in ``refused``."""
        project = self.get_collection_project()
        body = s.BulkApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        items = [(item["id"], item.get("version")) for item in body.validated_data["annotations"]]
        result = review_service.bulk_approve(project, request.user, items)
        context = {"access": caller_access(request, project)}
        return Response(
            {
                "approved": s.AnnotationFeatureSerializer(result.approved, many=True, context=context).data["features"],
                "refused": s.BulkRefusalSerializer(result.refused, many=True).data,
            }
        )

    @extend_schema(request=s.BulkByRiskSerializer, responses=s.BulkByRiskResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-by-risk")
    def bulk_by_risk(self, request, project_pk=None):
        """Approve the queue's annotations with a risk below ``approve_below`` and reject
        those at or above ``reject_from`` (a comment required), each as a single review (one
        event each); ``dry_run`` (the default) only counts them, for the preview."""
        project = self.get_collection_project()
        body = s.BulkByRiskSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        queue_fields = ("image", "area", "author", "label_class", "run")
        filters = self._queue_filters(project, {k: data[k] for k in queue_fields if data.get(k) is not None})
        decision = review_service.bulk_by_risk(
            project,
            request.user,
            filters,
            approve_below=data.get("approve_below"),
            reject_from=data.get("reject_from"),
            comment=data.get("comment", ""),
            dry_run=data["dry_run"],
        )
        return Response(s.BulkByRiskResultSerializer(decision).data)


class CommentThreadViewSet(
    ProjectScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Comment threads pinned to annotations or points; filter by image, annotation, resolved;
    ``live=true`` leaves out the threads of deleted annotations."""

    serializer_class = s.CommentThreadSerializer
    required_roles = {
        "create": Role.ANNOTATOR,
        "reply": Role.ANNOTATOR,
        "resolve": Role.ANNOTATOR,
        "reopen": Role.ANNOTATOR,
    }

    def get_queryset(self):
        queryset = (
            CommentThread.objects.filter(project=self.get_collection_project())
            .select_related("project", "created_by", "resolved_by")
            .prefetch_related("comments__author")
            .annotate(anchor_point=PointOnSurface("annotation__geometry"))
        )
        if self.action != "list":
            return queryset
        query = s.CommentThreadFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        f = query.validated_data
        for name in ("image", "annotation"):
            if name in f:
                queryset = queryset.filter(**{f"{name}_id": f[name]})
        if f.get("resolved") is not None:
            queryset = queryset.filter(resolved=f["resolved"])
        if f.get("live"):
            queryset = queryset.exclude(annotation__deleted_at__isnull=False)
        return queryset

    def get_serializer_context(self):
        access = caller_access(self.request, self.get_collection_project())
        return {**super().get_serializer_context(), "access": access}

    @extend_schema(parameters=[s.CommentThreadFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.CommentThreadInputSerializer, responses={201: s.CommentThreadSerializer})
    def create(self, request, *args, **kwargs):
        body = s.CommentThreadInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        thread = comment_service.open_thread(
            self.get_collection_project(),
            request.user,
            data["body"],
            annotation_id=data.get("annotation"),
            image_id=data.get("image"),
            point=data.get("point"),
        )
        return Response(self.get_serializer(thread).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.CommentInputSerializer, responses={201: s.CommentThreadSerializer})
    @action(detail=True, methods=["post"])
    def reply(self, request, project_pk=None, pk=None):
        thread = self.get_object()
        body = s.CommentInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        comment_service.reply(thread, request.user, body.validated_data["body"])
        return Response(self.get_serializer(self.get_object()).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.CommentThreadSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, project_pk=None, pk=None):
        thread = comment_service.set_resolved(self.get_object(), request.user, True)
        return Response(self.get_serializer(thread).data)

    @extend_schema(request=None, responses=s.CommentThreadSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, project_pk=None, pk=None):
        thread = comment_service.set_resolved(self.get_object(), request.user, False)
        return Response(self.get_serializer(thread).data)


class DashboardViewSet(ProjectScopedMixin, viewsets.GenericViewSet):
    """Project figures: by state, class and annotator, throughput per day, image and area progress."""

    pagination_class = None

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="throughput window in days (default 30)")],
        responses=dict,
    )
    def list(self, request, project_pk=None):
        days = request.query_params.get("days", "30")
        if not days.isdigit() or not 1 <= int(days) <= 366:
            raise InvalidInput("days must be a whole number from 1 to 366.", field="days")
        return Response(dashboard_service.project_dashboard(self.get_collection_project(), int(days)))


class VectorImportViewSet(
    ProjectScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Vector imports of a project (GeoJSON, GeoPackage, zipped Shapefile; any CRS) with their
    job's state. Owners import; the drafts are authored by the importer."""

    serializer_class = s.VectorImportSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return VectorImport.objects.filter(project=self.get_collection_project()).select_related("project")

    def _jobs(self, imports) -> dict[int, Job]:
        kind = ContentType.objects.get_for_model(VectorImport)
        ids = [i.pk for i in imports]
        jobs = Job.objects.filter(target_type=kind, target_id__in=ids).order_by("target_id", "-created_at", "-id")
        found: dict[int, Job] = {}
        for job in jobs:
            found.setdefault(job.target_id, job)
        return found

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = {**self.get_serializer_context(), "jobs": self._jobs(page)}
        return self.get_paginated_response(s.VectorImportSerializer(page, many=True, context=context).data)

    def retrieve(self, request, *args, **kwargs):
        vector_import = self.get_object()
        context = {**self.get_serializer_context(), "jobs": self._jobs([vector_import])}
        return Response(s.VectorImportSerializer(vector_import, context=context).data)

    @extend_schema(
        request={"multipart/form-data": s.VectorImportInputSerializer}, responses={201: s.VectorImportSerializer}
    )
    def create(self, request, *args, **kwargs):
        body = s.VectorImportInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        vector_import, job = import_service.create_import(
            self.get_collection_project(),
            data["image"],
            data["file"],
            request.user,
            class_attribute=data.get("class_attribute", ""),
            class_map=data.get("class_map"),
            default_label_class=data.get("default_label_class"),
        )
        context = {**self.get_serializer_context(), "jobs": {vector_import.pk: job}}
        return Response(s.VectorImportSerializer(vector_import, context=context).data, status=status.HTTP_201_CREATED)
