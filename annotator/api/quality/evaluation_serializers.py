"""Serializers of model evaluations (IoU 0 to 1, NoC in clicks, runtimes in seconds)."""

from __future__ import annotations

from rest_framework import serializers

from annotator.api.jobs.serializers import WithJob
from annotator.models import ModelEvaluation
from annotator.quality.evaluation import DEFAULT_MAX_CLICKS, MAX_SAMPLE


class EvaluationStartSerializer(serializers.Serializer):
    """The request shape; the evaluation service checks the model name against the registry."""

    model = serializers.CharField(required=False, allow_blank=True, help_text="a SAM2 model; the project's by default")
    sample = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_SAMPLE, help_text="evaluate a random sample"
    )
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**31 - 1)
    max_clicks = serializers.IntegerField(required=False, default=DEFAULT_MAX_CLICKS, min_value=5, max_value=100)


class ModelEvaluationSerializer(WithJob, serializers.ModelSerializer):
    """One evaluation without its per-object results (see ``ModelEvaluationDetailSerializer``)."""

    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = ModelEvaluation
        fields = [
            "id",
            "project",
            "created_by",
            "created_at",
            "finished_at",
            "model_name",
            "checkpoint_digest",
            "untrained",
            "params",
            "summary",
            "per_class",
            "status",
            "job",
        ]
        read_only_fields = fields


class ModelEvaluationDetailSerializer(ModelEvaluationSerializer):
    """One evaluation with every object's IoU after each click and its clicks (window pixels)."""

    class Meta(ModelEvaluationSerializer.Meta):
        fields = [*ModelEvaluationSerializer.Meta.fields, "object_results"]
        read_only_fields = fields


class EvaluatedModelSerializer(serializers.Serializer):
    model = serializers.CharField()
    images = serializers.IntegerField(help_text="images of the project with stored features of this model")


class EvaluationSetupSerializer(serializers.Serializer):
    """What the caller may do (``start``), the project's model and the models with stored features."""

    allowed_actions = serializers.ListField(child=serializers.CharField())
    project_model = serializers.CharField()
    models = EvaluatedModelSerializer(many=True)
    approved = serializers.IntegerField(help_text="approved annotations of the project (what an evaluation replays)")
