"""API of building regularisation: ``POST /projects/{id}/annotations/regularise/``.

Geometries are GeoJSON in EPSG:4326; the figures are measured in metres (see
:mod:`annotator.quality.regularise`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from annotator.api.base import ProjectScopedMixin
from annotator.api.permissions import caller_access
from annotator.api.workflow.serializers import AnnotationFeatureSerializer, BulkApproveItemSerializer
from annotator.choices import Role
from annotator.quality import regularise


class RegulariseRequestSerializer(serializers.Serializer):
    annotations = BulkApproveItemSerializer(
        many=True, help_text=f"at most {regularise.MAX_ANNOTATIONS}, each named once; version: the one the caller saw"
    )
    allow_45 = serializers.BooleanField(required=False, default=False, help_text="edges may also run at 45°")
    tolerance_m = serializers.FloatField(
        required=False,
        default=0.5,
        help_text=(
            "metres: outline simplification, the distance under which buildings touch, "
            "how far apart two walls may be and still be put on one line"
        ),
    )


class RegulariseFiguresSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(help_text="the annotation's version after the action")
    changed = serializers.BooleanField(help_text="false when the outline was already regular (no new version)")
    iou = serializers.FloatField(help_text="intersection over union with the outline before (0..1)")
    max_angle_deviation_deg = serializers.FloatField(
        help_text="degrees: the largest angle between an edge and the nearest allowed direction"
    )
    orientation_deg = serializers.FloatField(help_text="degrees in [0, 90) from the x axis of the metric CRS")
    group = serializers.IntegerField(help_text="touching annotations of one image share a group and its orientation")


class RegulariseResultSerializer(serializers.Serializer):
    """The answer of a regularisation (the view builds it; this documents its shape)."""

    annotations = serializers.ListField(child=AnnotationFeatureSerializer(), help_text="as saved (GeoJSON Features)")
    figures = RegulariseFiguresSerializer(many=True)


class RegulariseViewSet(ProjectScopedMixin, viewsets.GenericViewSet):
    """Square the corners of buildings; touching ones keep touching."""

    required_roles = {"create": Role.ANNOTATOR}
    serializer_class = RegulariseRequestSerializer

    @extend_schema(request=RegulariseRequestSerializer, responses=RegulariseResultSerializer)
    def create(self, request, project_pk=None):
        """Regularise the selected annotations (all or none: each must be editable by the
        caller), each saved as a new version, and answer per polygon its IoU with the
        outline before and its largest angle deviation."""
        project = self.get_collection_project()
        body = RegulariseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        options = regularise.parse_options({"allow_45": data["allow_45"], "tolerance_m": data["tolerance_m"]})
        items = [(item["id"], item.get("version")) for item in data["annotations"]]
        results = regularise.regularise_annotations(project, request.user, items, options)
        context = {"access": caller_access(request, project)}
        features = AnnotationFeatureSerializer([r.annotation for r in results], many=True, context=context).data
        figures = [
            {"id": r.annotation.pk, "version": r.annotation.version, "changed": r.changed, **r.footprint.report()}
            for r in results
        ]
        return Response({"annotations": features["features"], "figures": figures})
