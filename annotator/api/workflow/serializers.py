"""Serializers of the annotation workflow. Geometries are GeoJSON in EPSG:4326."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_gis.fields import GeometryField
from rest_framework_gis.pagination import GeoJsonPagination
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from annotator.access import ANNOTATION_ACTIONS, THREAD_ACTIONS, Access
from annotator.api.fields import Rfc7946GeometryField
from annotator.models import (
    Annotation,
    AnnotationState,
    AnnotationVersion,
    CommentThread,
    ReviewComment,
    VectorImport,
)


class AnnotationFeatureSerializer(GeoFeatureModelSerializer):
    """An annotation as a GeoJSON Feature (geometry: MultiPolygon, EPSG:4326).

    ``allowed_actions`` are what the requesting user may do with it now (sorted names of
    :data:`annotator.access.ANNOTATION_ACTIONS`); the view passes the caller's
    :class:`~annotator.access.Access` in the context as ``access``, worked out once per request.
    """

    author = serializers.CharField(source="author.username", read_only=True, default=None)
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True, default=None)
    label_class_name = serializers.CharField(source="label_class.name", read_only=True, default=None)
    allowed_actions = serializers.SerializerMethodField()
    geometry = Rfc7946GeometryField(read_only=True)

    class Meta:
        model = Annotation
        geo_field = "geometry"
        fields = [
            "id",
            "project",
            "image",
            "label_class",
            "label_class_name",
            "author",
            "area_m2",
            "source",
            "sam",
            "provenance",
            "risk",
            "risk_parts",
            "attributes",
            "state",
            "version",
            "created_at",
            "updated_at",
            "submitted_at",
            "reviewed_at",
            "reviewed_by",
            "allowed_actions",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=ANNOTATION_ACTIONS)))
    def get_allowed_actions(self, annotation: Annotation) -> list[str]:
        access: Access = self.context["access"]
        return access.allowed_actions(annotation)


class AnnotationCreateSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    geometry = serializers.JSONField(help_text="GeoJSON Polygon or MultiPolygon, EPSG:4326")
    label_class = serializers.IntegerField(required=False, allow_null=True)
    attributes = serializers.JSONField(required=False)
    source = serializers.ChoiceField(choices=["sam", "manual"], default="manual")
    sam = serializers.JSONField(required=False, allow_null=True, help_text="prompts, score, model, untrained")
    session_id = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text="source sam: the segment prompt session of the result saved; its SAM2 figures go into provenance",
    )


class AnnotationUpdateSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, help_text="the version edited (or send If-Match)")
    geometry = serializers.JSONField(required=False, help_text="GeoJSON Polygon or MultiPolygon, EPSG:4326")
    label_class = serializers.IntegerField(required=False, allow_null=True)
    attributes = serializers.JSONField(required=False)


class TransitionSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class AnnotationVersionSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True, default=None)
    geometry = GeometryField(read_only=True)

    class Meta:
        model = AnnotationVersion
        fields = [
            "version",
            "action",
            "user",
            "created_at",
            "state",
            "label_class",
            "attributes",
            "comment",
            "geometry",
        ]
        read_only_fields = fields


class AnnotationPagination(GeoJsonPagination):
    """``?page=&page_size=`` pages as a GeoJSON FeatureCollection with ``count``, ``next``, ``previous``."""

    page_size = 100
    max_page_size = 1000

    def get_paginated_response_schema(self, schema: dict) -> dict:
        """The list serializer's FeatureCollection (``type``, ``features``) and the page's links.

        GeoJsonPagination's own schema still requires DRF's ``results`` and nests a whole
        FeatureCollection in ``features``; the response has neither.
        """
        page = super().get_paginated_response_schema(schema)
        links = {name: page["properties"][name] for name in ("count", "next", "previous")}
        required = ["type", "count", "next", "previous", "features"]
        return {"allOf": [schema, {"type": "object", "required": required, "properties": links}]}


class ReviewCommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True, default=None)

    class Meta:
        model = ReviewComment
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = fields


class CommentThreadSerializer(serializers.ModelSerializer):
    """A thread with its comments, oldest first.

    ``anchor`` is where a map pins it (GeoJSON Point, EPSG:4326, longitude in [-180, 180)):
    its ``point``, else a point on its annotation's surface, which the view annotates as
    ``anchor_point`` (a point inside even a ring-shaped polygon, unlike its centroid).
    ``allowed_actions`` are what the caller may do with it now
    (:meth:`annotator.access.Access.thread_actions`; ``access`` in the context).
    """

    point = GeometryField(read_only=True)
    anchor = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    resolved_by = serializers.CharField(source="resolved_by.username", read_only=True, default=None)
    comments = ReviewCommentSerializer(many=True, read_only=True)
    allowed_actions = serializers.SerializerMethodField()

    class Meta:
        model = CommentThread
        fields = [
            "id",
            "project",
            "image",
            "annotation",
            "point",
            "created_by",
            "created_at",
            "resolved",
            "resolved_by",
            "resolved_at",
            "comments",
            "anchor",
            "allowed_actions",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.JSONField(allow_null=True, help_text="GeoJSON Point, EPSG:4326"))
    def get_anchor(self, thread: CommentThread) -> dict | None:
        point = thread.point or getattr(thread, "anchor_point", None)
        if point is None:
            return None
        # Stored geometries of images across the antimeridian run past 180° (one frame).
        return {"type": "Point", "coordinates": [((point.x + 180.0) % 360.0) - 180.0, point.y]}

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=THREAD_ACTIONS)))
    def get_allowed_actions(self, thread: CommentThread) -> list[str]:
        access: Access = self.context["access"]
        return access.thread_actions(thread)


class CommentThreadInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)
    annotation = serializers.IntegerField(required=False, allow_null=True)
    image = serializers.IntegerField(required=False, allow_null=True)
    point = serializers.JSONField(required=False, allow_null=True, help_text="GeoJSON Point, EPSG:4326")


class CommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)


class CommentThreadFilterSerializer(serializers.Serializer):
    image = serializers.IntegerField(required=False)
    annotation = serializers.IntegerField(required=False)
    # default=None: an absent boolean of a query string would otherwise read as false.
    resolved = serializers.BooleanField(required=False, allow_null=True, default=None)
    live = serializers.BooleanField(required=False, help_text="true: leave out the threads of deleted annotations")


class ReviewQueueQuerySerializer(serializers.Serializer):
    image = serializers.IntegerField(required=False)
    area = serializers.IntegerField(required=False, help_text="an assigned area: the annotations meeting it")
    author = serializers.CharField(required=False, help_text="username")
    label_class = serializers.IntegerField(required=False)
    run = serializers.IntegerField(required=False, help_text="a drafting run: its drafts and submitted annotations")
    order = serializers.ChoiceField(
        choices=["submitted", "risk", "risk_low"],
        required=False,
        help_text="submitted: oldest submission first (default); risk: highest risk first; risk_low: lowest first",
    )
    unscored = serializers.ChoiceField(
        choices=["last", "first"], required=False, help_text="where annotations without a risk go (default last)"
    )


class BulkApproveItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(required=False, help_text="the version the reviewer saw; a stale one is refused")


class BulkApproveSerializer(serializers.Serializer):
    annotations = BulkApproveItemSerializer(many=True, help_text="at most 500, each named once")


class BulkRefusalSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="annotation_id")
    code = serializers.CharField(help_text="the error code a single approval would have answered")
    detail = serializers.CharField()


class BulkApproveResultSerializer(serializers.Serializer):
    """The answer of a bulk approval (the view builds it; this documents its shape)."""

    approved = serializers.ListField(
        child=AnnotationFeatureSerializer(), help_text="the annotations approved (GeoJSON Features), as they are now"
    )
    refused = BulkRefusalSerializer(many=True, help_text="the ones not approved, and why")


class AnnotationFeatureCollectionSerializer(serializers.Serializer):
    """What ``AnnotationFeatureSerializer(many=True)`` gives (documents the shape)."""

    type = serializers.ChoiceField(choices=["FeatureCollection"])
    features = AnnotationFeatureSerializer(many=True)


class ReviewNextSerializer(serializers.Serializer):
    """The answer of the review queue (the view builds it; this documents its shape)."""

    annotation = AnnotationFeatureSerializer(allow_null=True, help_text="the oldest submitted one; null if none")
    neighbours = AnnotationFeatureCollectionSerializer(help_text="the live annotations around it")
    remaining = serializers.IntegerField(help_text="submitted annotations in the queue")


class AnnotationFilterSerializer(serializers.Serializer):
    """Query parameters of the annotation list."""

    image = serializers.IntegerField(required=False)
    bbox = serializers.CharField(required=False, help_text="west,south,east,north in EPSG:4326 degrees")
    state = serializers.MultipleChoiceField(choices=AnnotationState.choices, required=False)
    label_class = serializers.IntegerField(required=False)
    author = serializers.CharField(required=False, help_text="username")
    source = serializers.ChoiceField(choices=["sam", "manual", "import"], required=False)
    mine = serializers.BooleanField(required=False, help_text="true: only the caller's own annotations")
    has_open_comments = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="true: with an unresolved comment thread; false: none"
    )


class AnnotationCountsSerializer(serializers.Serializer):
    """Annotations per review state under the list's filters, the state filter aside."""

    counts = serializers.DictField(child=serializers.IntegerField(), help_text="state -> number of annotations")
    total = serializers.IntegerField(help_text="all states together")


class VectorImportSerializer(serializers.ModelSerializer):
    job = serializers.SerializerMethodField()

    class Meta:
        model = VectorImport
        fields = [
            "id",
            "project",
            "image",
            "file_name",
            "file_size",
            "class_attribute",
            "class_map",
            "default_label_class",
            "created_count",
            "skipped_count",
            "created_at",
            "job",
        ]
        read_only_fields = fields

    def get_job(self, vector_import: VectorImport) -> dict | None:
        job = self.context.get("jobs", {}).get(vector_import.pk)
        if job is None:
            return None
        return {
            "id": job.pk,
            "status": job.status,
            "progress": job.progress,
            "message": job.message,
            "error": job.error,
        }


class VectorImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="GeoJSON, GeoPackage or zipped Shapefile, any CRS")
    image = serializers.IntegerField()
    class_attribute = serializers.CharField(required=False, allow_blank=True, max_length=100)
    class_map = serializers.JSONField(required=False, help_text="attribute value -> label class name")
    default_label_class = serializers.IntegerField(required=False, allow_null=True)


class BulkByRiskSerializer(serializers.Serializer):
    image = serializers.IntegerField(required=False, allow_null=True)
    area = serializers.IntegerField(required=False, allow_null=True)
    author = serializers.CharField(required=False, allow_null=True)
    label_class = serializers.IntegerField(required=False, allow_null=True)
    run = serializers.IntegerField(required=False, allow_null=True, help_text="a drafting run")
    approve_below = serializers.FloatField(required=False, allow_null=True, help_text="approve risk < this (0..1)")
    reject_from = serializers.FloatField(required=False, allow_null=True, help_text="reject risk >= this (0..1)")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=10_000, help_text="why rejected")
    dry_run = serializers.BooleanField(default=True, help_text="true (default): only count, for the preview")


class BulkByRiskResultSerializer(serializers.Serializer):
    """What a bulk review by risk decided or, with dry_run, would decide."""

    approve = serializers.IntegerField(help_text="annotations with risk below approve_below")
    reject = serializers.IntegerField(help_text="annotations with risk at or above reject_from")
    kept = serializers.IntegerField(help_text="scored annotations between the two, left as they are")
    unscored = serializers.IntegerField(help_text="annotations without a risk, left as they are")
    approved = serializers.ListField(child=serializers.IntegerField(), help_text="ids approved now")
    rejected = serializers.ListField(child=serializers.IntegerField(), help_text="ids rejected now")
    refused = BulkRefusalSerializer(many=True, help_text="the ones not decided, and why")
    remaining = serializers.IntegerField(help_text="chosen ones beyond this request's limit (500): send it again")
