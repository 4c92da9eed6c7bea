"""Annotations, their versions, review comments, assigned areas and vector imports.

Every geometry here is in EPSG:4326 (lon, lat); areas are geodesic, in square metres.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models


class AnnotationState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class AnnotationSource(models.TextChoices):
    SAM = "sam", "SAM2"
    MANUAL = "manual", "Drawn by hand"
    IMPORT = "import", "Imported"
    AUTO = "auto", "Drafted by SAM2 (whole image)"
    CONSENSUS = "consensus", "Consensus of annotators"


class VersionAction(models.TextChoices):
    CREATED = "created", "Created"
    IMPORTED = "imported", "Imported"
    UPDATED = "updated", "Updated"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    DELETED = "deleted", "Deleted"


class AnnotationQuerySet(models.QuerySet):
    def live(self) -> AnnotationQuerySet:
        """Annotations that have not been deleted (deleted ones stay as tombstones)."""
        return self.filter(deleted_at__isnull=True)


class Annotation(models.Model):
    """One labelled object on one image.

    ``geometry`` is a MultiPolygon in EPSG:4326, already clipped to the image footprint;
    ``area_m2`` is its geodesic area on the WGS84 ellipsoid. ``version`` counts changes
    (1 after creation) and is what an update must name to be accepted.
    """

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="annotations")
    image = models.ForeignKey("annotator.Image", on_delete=models.CASCADE, related_name="annotations")
    label_class = models.ForeignKey(
        "annotator.LabelClass", null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    geometry = models.MultiPolygonField(srid=4326)
    area_m2 = models.FloatField(default=0.0, help_text="geodesic area, square metres")
    source = models.CharField(max_length=12, choices=AnnotationSource.choices, default=AnnotationSource.MANUAL)
    sam = models.JSONField(null=True, blank=True, help_text="prompts, score, model, untrained flag")
    provenance = models.JSONField(
        default=dict,
        blank=True,
        help_text="where a drafted or fused annotation came from: its run, model, window and figures",
    )
    risk = models.FloatField(
        null=True,
        blank=True,
        help_text="review risk 0..1 from SAM2's figures (annotator.workflow.risk); null without them",
    )
    risk_parts = models.JSONField(null=True, blank=True, help_text="the risk's parts: value, part 0..1, weight")
    attributes = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=AnnotationState.choices, default=AnnotationState.DRAFT)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="latest submission")
    reviewed_at = models.DateTimeField(null=True, blank=True, help_text="latest approval or rejection")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = AnnotationQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["project", "state"]),
            models.Index(fields=["image", "state"]),
            models.Index(fields=["project", "author"]),
            models.Index(fields=["project", "state", "submitted_at"]),
            models.Index(fields=["project", "state", "risk"]),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} v{self.version} ({self.state})"


class AnnotationVersion(models.Model):
    """What an annotation looked like after one change: who, when, geometry, label, attributes, state."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=12, choices=VersionAction.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    geometry = models.MultiPolygonField(srid=4326)
    label_class = models.ForeignKey("annotator.LabelClass", null=True, on_delete=models.SET_NULL, related_name="+")
    attributes = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=AnnotationState.choices)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["annotation_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["annotation", "version"], name="annotationversion_unique_version")
        ]
        indexes = [models.Index(fields=["action", "created_at"])]

    def __str__(self) -> str:
        return f"annotation {self.annotation_id} v{self.version} {self.action}"


class CommentThread(models.Model):
    """A discussion pinned to an annotation or to a point (EPSG:4326) on an image."""

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="comment_threads")
    image = models.ForeignKey("annotator.Image", on_delete=models.CASCADE, related_name="comment_threads")
    annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.CASCADE, related_name="comment_threads"
    )
    point = models.PointField(srid=4326, null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved = models.BooleanField(default=False)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(annotation__isnull=False) | models.Q(point__isnull=False),
                name="commentthread_pinned",
            )
        ]

    def __str__(self) -> str:
        return f"thread {self.pk}"


class ReviewComment(models.Model):
    """One message in a comment thread."""

    thread = models.ForeignKey(CommentThread, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment {self.pk} on thread {self.thread_id}"


class AssignedArea(models.Model):
    """A part of an image (Polygon in EPSG:4326) given to one annotator."""

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="assigned_areas")
    image = models.ForeignKey("annotator.Image", on_delete=models.CASCADE, related_name="assigned_areas")
    name = models.CharField(max_length=200, blank=True)
    geometry = models.PolygonField(srid=4326)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_id", "id"]

    def __str__(self) -> str:
        return self.name or f"area {self.pk}"


class VectorImport(models.Model):
    """An uploaded vector file to turn into draft annotations on one image (run as a Job)."""

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="vector_imports")
    image = models.ForeignKey("annotator.Image", on_delete=models.CASCADE, related_name="vector_imports")
    file_key = models.CharField(max_length=500, help_text="storage key of the uploaded file")
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0, help_text="bytes")
    class_attribute = models.CharField(max_length=100, blank=True, help_text="feature attribute naming the class")
    class_map = models.JSONField(default=dict, blank=True, help_text="attribute value -> label class name")
    default_label_class = models.ForeignKey(
        "annotator.LabelClass", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0, help_text="features wholly outside the image")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.file_name}"
