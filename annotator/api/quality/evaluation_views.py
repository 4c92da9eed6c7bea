"""API of model evaluations: list and read them (members), start one (owners).

Short views: the behaviour is :mod:`annotator.quality.evaluation`'s, who may is
:mod:`annotator.access`'s (``EVALUATION_STARTER``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from annotator import access
from annotator.api.base import ProjectScopedMixin
from annotator.api.permissions import caller_role
from annotator.api.quality import evaluation_serializers as s
from annotator.models import Annotation, AnnotationState, ModelEvaluation
from annotator.quality import evaluation

RELATED = ("created_by", "job", "job__created_by", "job__target_type", "project")


class ModelEvaluationViewSet(
    ProjectScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Model evaluations of a project, newest first (NoC@85/90, NoF@90, mIoU after 1..5 clicks).

    ``create`` lets every member through to the service, which refuses those below
    ``EVALUATION_STARTER`` with a 403 that says who may start one.
    """

    required_roles = {
        "list": access.EVALUATION_READER,
        "retrieve": access.EVALUATION_READER,
        "setup": access.EVALUATION_READER,
        "create": access.EVALUATION_READER,
    }

    def get_queryset(self):
        rows = ModelEvaluation.objects.filter(project=self.get_collection_project()).select_related(*RELATED)
        if self.action == "list":
            rows = rows.defer("object_results")
        return rows

    def get_serializer_class(self):
        return s.ModelEvaluationDetailSerializer if self.action == "retrieve" else s.ModelEvaluationSerializer

    @extend_schema(request=s.EvaluationStartSerializer, responses={202: s.ModelEvaluationSerializer})
    def create(self, request, *args, **kwargs):
        project = self.get_collection_project()
        evaluation.check_can_evaluate(request.user, project)
        body = s.EvaluationStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        params = evaluation.parse_params(
            project, data.get("model") or None, data.get("sample"), data["seed"], data["max_clicks"]
        )
        started = evaluation.start_evaluation(project, request.user, params)
        return Response(s.ModelEvaluationSerializer(started).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=s.EvaluationSetupSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def setup(self, request, project_pk=None):
        """What the caller may do here, the project's model, and the models with stored features."""
        project = self.get_collection_project()
        approved = Annotation.objects.live().filter(project=project, state=AnnotationState.APPROVED).count()
        body = {
            "allowed_actions": access.evaluation_actions(caller_role(request, project)),
            "project_model": project.sam2_model,
            "models": evaluation.evaluated_models(project),
            "approved": approved,
        }
        return Response(s.EvaluationSetupSerializer(body).data)
