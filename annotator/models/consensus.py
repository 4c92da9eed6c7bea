"""Consensus runs: one request to fuse an assigned area's matched polygons into consensus drafts."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ConsensusRun(models.Model):
    """One consensus run over an assigned area, made by a Job (kind ``consensus``).

    ``iou_threshold`` is the least IoU of a match (0 to 1). Once the job succeeds,
    ``created`` lists the new submitted consensus annotations' ids, ``replaced`` counts the
    untouched drafts of the area it deleted, ``clusters`` the clusters of matched polygons
    it found and ``kept`` those left to an edited or reviewed consensus annotation.
    Empty until then (see ``job`` for its state); a failed or cancelled run wrote nothing.
    """

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="consensus_runs")
    area = models.ForeignKey(
        "annotator.AssignedArea", null=True, on_delete=models.SET_NULL, related_name="consensus_runs"
    )
    job = models.OneToOneField(
        "annotator.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="consensus_run"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    iou_threshold = models.FloatField(help_text="the least IoU of a match, 0 to 1")
    created = models.JSONField(default=list, blank=True, help_text="ids of the consensus annotations it made")
    replaced = models.PositiveIntegerField(default=0)
    clusters = models.PositiveIntegerField(default=0)
    kept = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"consensus run {self.pk} of area {self.area_id}"
