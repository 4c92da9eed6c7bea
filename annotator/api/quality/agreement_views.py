"""API of annotator agreement (figures) and consensus drafts (fused polygons).

Short views: the behaviour is :mod:`annotator.quality.agreement`'s, who may is
:mod:`annotator.access`'s."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotator import access
from annotator.api.assignments.views import OneObjectSchema
from annotator.api.base import ProjectScopedMixin
from annotator.api.permissions import caller_role
from annotator.api.quality import agreement_serializers as s
from annotator.errors import NotFound
from annotator.models import AssignedArea, ConsensusRun, Image
from annotator.quality import agreement


class AgreementViewSet(ProjectScopedMixin, viewsets.GenericViewSet):
    """How far the project's annotators agree (per pair, per annotator, per class), and
    consensus drafts of an area. Every member reads the figures; reviewers and owners make
    consensus drafts (``allowed_actions``: ``make_consensus``)."""

    pagination_class = None
    schema = OneObjectSchema()
    required_roles = {
        "list": access.AGREEMENT_READER,
        "consensus": access.CONSENSUS_MAKER,
        "consensus_run": access.CONSENSUS_MAKER,
    }

    def _area(self, pk: int) -> AssignedArea:
        found = (
            AssignedArea.objects.filter(project=self.get_collection_project(), pk=pk).select_related("project").first()
        )
        if found is None:
            raise NotFound("No such area in this project.")
        return found

    @extend_schema(
        parameters=[
            OpenApiParameter("iou", float, description="the least IoU of a match, above 0 and at most 1 (0.5)"),
            OpenApiParameter("image", int, description="compare only this image"),
            OpenApiParameter("area", int, description="compare only this assigned area"),
        ],
        responses=dict,
    )
    def list(self, request, project_pk=None):
        query = s.AgreementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = self.get_collection_project()
        image_id = query.validated_data.get("image")
        if image_id is not None and not Image.objects.filter(project=project, pk=image_id).exists():
            raise NotFound("No such image in this project.")
        area_id = query.validated_data.get("area")
        figures = agreement.project_agreement(
            project,
            image_id=image_id,
            area=self._area(area_id) if area_id is not None else None,
            iou_threshold=query.validated_data["iou"],
        )
        figures["allowed_actions"] = access.agreement_actions(caller_role(request, project))
        return Response(figures)

    @extend_schema(request=s.ConsensusInputSerializer, responses={202: s.ConsensusRunSerializer})
    @action(detail=False, methods=["post"])
    def consensus(self, request, project_pk=None):
        """Queue a consensus run of an area (a Job, kind ``consensus``); poll ``job`` for its progress."""
        body = s.ConsensusInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = agreement.start_consensus(
            self._area(body.validated_data["area"]), request.user, iou_threshold=body.validated_data["iou"]
        )
        return Response(s.ConsensusRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses=s.ConsensusRunSerializer,
        parameters=[OpenApiParameter("run_pk", int, OpenApiParameter.PATH, description="the consensus run's id")],
    )
    @action(detail=False, methods=["get"], url_path=r"consensus/(?P<run_pk>[0-9]{1,18})")
    def consensus_run(self, request, project_pk=None, run_pk=None):
        """One consensus run of the project with its job: what it made once the job succeeded."""
        found = (
            ConsensusRun.objects.filter(project=self.get_collection_project(), pk=int(run_pk))
            .select_related("created_by", "job", "job__created_by", "job__target_type")
            .first()
        )
        if found is None:
            raise NotFound("No such consensus run in this project.")
        return Response(s.ConsensusRunSerializer(found).data)
