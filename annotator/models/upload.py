from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ResumableUpload(models.Model):
    """A tus upload in progress (:mod:`annotator.imagery.resumable`).

    Received bytes are stored as one object per accepted PATCH (``parts``: a list of
    ``[offset, size, key]``, offsets in bytes from the start of the file, in order), so web
    processes need share no disk. The id is the unguessable part of the upload's URL.
    ``image`` is set, in the same transaction as the row and ingest job it names, when the
    last byte arrives; the ingest job assembles the parts into the image's original and
    deletes this row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="resumable_uploads")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    length = models.BigIntegerField(help_text="bytes the file will have (Upload-Length)")
    offset = models.BigIntegerField(default=0, help_text="bytes received so far (Upload-Offset)")
    filename = models.CharField(max_length=255, blank=True, help_text="the browser's file name (metadata)")
    name = models.CharField(max_length=255, blank=True, help_text="the image's display name (metadata)")
    parts = models.JSONField(default=list, blank=True, help_text="[offset, size, storage key] of each part")
    image = models.OneToOneField(
        "annotator.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumable_upload"
    )
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"upload {self.pk} ({self.offset}/{self.length})"

    @property
    def storage_prefix(self) -> str:
        return f"projects/{self.project_id}/uploads/{self.pk}"
