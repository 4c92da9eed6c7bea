"""Model evaluations: the interactive-segmentation protocol replayed on a project's approved polygons."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ModelEvaluation(models.Model):
    """One evaluation of a SAM2 model on a project's approved annotations, run as a Job.

    ``params``: ``{"sample": n | null, "seed": int, "max_clicks": int}``. ``summary`` (overall)
    and each entry of ``per_class`` hold ``objects`` (evaluated), ``noc85`` and ``noc90`` (mean
    number of clicks to reach IoU 0.85 / 0.90, counted as ``max_clicks`` when never reached),
    ``nof90`` (objects never reaching 0.90), ``miou`` (mean IoU after 1..5 clicks); ``summary``
    adds ``skipped`` ({reason: count}), ``runtime_s`` and ``seconds_per_100_objects``.
    ``object_results``: one entry per evaluated annotation, ``{"annotation", "image", "label_class",
    "level", "window", "ious", "clicks"}``, clicks in window pixels ``[col, row, positive]``.
    Empty until the job finishes (see ``job`` for its state).
    """

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="model_evaluations")
    job = models.OneToOneField(
        "annotator.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_evaluation"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    model_name = models.CharField(max_length=64)
    checkpoint_digest = models.CharField(max_length=80, blank=True)
    untrained = models.BooleanField(default=False, help_text="untrained weights: the numbers are meaningless")
    params = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    per_class = models.JSONField(default=list, blank=True)
    object_results = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"evaluation {self.pk} of {self.model_name} on project {self.project_id}"
