"""Runs of "segment everything" and "find similar" (annotator/drafts/), each run as a Job."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models

from annotator.choices import DraftRunKind


class DraftRun(models.Model):
    """One segment-everything or find-similar run on one image; its drafts are Annotation rows.

    ``area``: MultiPolygon in EPSG:4326 the point prompts were restricted to (null: the whole
    image). ``params``: the run's parameters (:mod:`annotator.drafts.params`). ``counts``:
    ``windows`` (to do), ``windows_done``, ``points`` (decoded), ``masks`` (kept by the
    filters), ``drafts`` (live drafts of the run), ``replaced`` (untouched drafts of an earlier
    run deleted), ``capped``, ``encoder_calls`` (image-encoder calls in the worker while it
    ran: always 0), ``decoder_only`` (the worker held only the decoder), ``seconds``.
    ``windows_done``: keys of the windows already processed (``L0_r768_c0``): a retried or
    re-queued run skips them, its drafts of those windows being saved already.
    """

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="draft_runs")
    image = models.ForeignKey("annotator.Image", on_delete=models.CASCADE, related_name="draft_runs")
    kind = models.CharField(max_length=12, choices=DraftRunKind.choices)
    area = models.MultiPolygonField(srid=4326, null=True, blank=True)
    assignment = models.ForeignKey(
        "annotator.AssignedArea", null=True, blank=True, on_delete=models.SET_NULL, related_name="draft_runs"
    )
    label_class = models.ForeignKey(
        "annotator.LabelClass", null=True, blank=True, on_delete=models.SET_NULL, related_name="draft_runs"
    )
    params = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    windows_done = models.JSONField(default=list, blank=True)
    model_name = models.CharField(max_length=64)
    checkpoint_digest = models.CharField(max_length=80, blank=True)
    untrained = models.BooleanField(default=False, help_text="untrained weights: the drafts are meaningless")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    job = models.OneToOneField(
        "annotator.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="draft_run"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["image", "kind", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} on image {self.image_id}"
