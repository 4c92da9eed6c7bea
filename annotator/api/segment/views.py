"""The segment endpoint: prompts in, a GeoJSON polygon out (nothing saved)."""

from __future__ import annotations

import time

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from annotator.access import has_role
from annotator.api.segment.serializers import SEGMENT_FEATURE_SCHEMA, SegmentRequestSerializer
from annotator.choices import Role
from annotator.errors import PermissionDenied
from annotator.models import Image, Project
from annotator.segment import service as segment_service

MAX_POINTS = segment_service.MAX_POINTS


class ImageSegmentView(APIView):
    """``POST /api/v1/images/{id}/segment``: SAM2 on cached features; annotators and above."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=SegmentRequestSerializer,
        responses={200: OpenApiResponse(SEGMENT_FEATURE_SCHEMA, description="GeoJSON Feature in EPSG:4326")},
    )
    def post(self, request, pk: int):
        started = time.perf_counter()
        image = get_object_or_404(
            Image.objects.filter(project__in=Project.objects.for_user(request.user)).select_related("project"), pk=pk
        )
        if not has_role(request.user, image.project, Role.ANNOTATOR):
            raise PermissionDenied("Viewers cannot segment; ask an owner for the annotator role.")
        body = SegmentRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        prompts = segment_service.SegmentRequest(**body.validated_data, user_id=request.user.pk)
        result = segment_service.segment(image, prompts)
        # The outline can have thousands of vertices; GEOS writes them, not DRF's JSON renderer.
        response = HttpResponse(result.to_json(), content_type="application/json")
        timing = result.properties["timing_ms"]
        # Browsers' developer tools and the load bench read the server's split here (ms).
        response["Server-Timing"] = ", ".join(
            [f"{name};dur={timing[name]}" for name in ("load", "decode", "polygonize")]
            + [f"segment;dur={timing['total']}", f"view;dur={(time.perf_counter() - started) * 1000:.2f}"]
        )
        return response
