"""Enumerations shared by models, serializers and services."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    OWNER = "owner", "Owner"


# Each role can do everything the roles before it can.
ROLE_RANK = {Role.VIEWER: 0, Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.OWNER: 3}


class ImageStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    INGESTING = "ingesting", "Ingesting"
    READY = "ready", "Ready"
    ENCODING = "encoding", "Encoding"
    ENCODED = "encoded", "Encoded"
    FAILED = "failed", "Failed"


class JobKind(models.TextChoices):
    INGEST = "ingest", "Ingest"
    ENCODE = "encode", "Encode"
    EXPORT = "export", "Export"
    IMPORT = "import", "Import"
    EVALUATE = "evaluate", "Model evaluation"
    CONSENSUS = "consensus", "Consensus drafts"
    DRAFTS = "drafts", "Drafts (segment everything, find similar)"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_JOB_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class EncodePriority(models.IntegerChoices):
    """Why a window was asked for ahead of the raster order; lower is encoded first."""

    CLICK = 0, "A click waits for it"
    VIEW = 1, "In view of an open annotate page"


class DraftRunKind(models.TextChoices):
    EVERYTHING = "everything", "Segment everything"
    SIMILAR = "similar", "Find similar"
