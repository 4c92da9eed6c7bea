"""API of drafts runs: start and list them on an image, read one; cancel and retry are the job endpoints.

Short views: the behaviour is :mod:`annotator.drafts.runs`'s, who may is
:mod:`annotator.access`'s (``DRAFTS_STARTER``: reviewers and owners). Non-members get 404.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from annotator.api.drafts import serializers as s
from annotator.drafts import runs
from annotator.models import DraftRun, Image, Project

RELATED = ("created_by", "job", "job__created_by", "job__target_type", "project")


class ImageDraftRunViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """``/images/{id}/draft-runs/``: the image's runs, newest first (members); start one (reviewers, owners)."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.DraftRunSerializer

    def get_image(self) -> Image:
        if not hasattr(self, "_image"):
            members = Project.objects.for_user(self.request.user)
            self._image = get_object_or_404(
                Image.objects.filter(project__in=members).select_related("project"), pk=self.kwargs["image_pk"]
            )
        return self._image

    def get_queryset(self):
        return DraftRun.objects.filter(image=self.get_image()).select_related(*RELATED)

    @extend_schema(request=s.DraftRunStartSerializer, responses={202: s.DraftRunSerializer})
    def create(self, request, *args, **kwargs):
        image = self.get_image()
        body = s.DraftRunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        run = runs.start_run(
            image,
            request.user,
            data["kind"],
            area=data.get("area"),
            assignment=data.get("assignment"),
            label_class=data.get("label_class"),
            params=data.get("params"),
        )
        run = DraftRun.objects.select_related(*RELATED).get(pk=run.pk)
        return Response(s.DraftRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class DraftRunViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """``/draft-runs/{id}/``: one run (members of its project)."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.DraftRunSerializer

    def get_queryset(self):
        members = Project.objects.for_user(self.request.user)
        return DraftRun.objects.filter(project__in=members).select_related(*RELATED)
