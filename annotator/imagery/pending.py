"""Image rows whose original is still to come, and the display names users give them.

The row and its ingest job are made here for the paths where the bytes arrive later: the
last part of a resumable upload (:mod:`annotator.imagery.resumable`) and an import by
reference (:mod:`annotator.imagery.references`); the ingest job stores the original first.
"""

from __future__ import annotations

import os

from django.db import transaction

from annotator import jobs
from annotator.choices import JobKind
from annotator.models import Image, Job, Project

MAX_NAME_LENGTH = 255


def clean_name(name: str) -> str:
    """A display name from a user's file name: no folders, no control characters."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:MAX_NAME_LENGTH] or "image"


def create_pending(project: Project, user, name: str, *, size: int = 0, source_url: str = "") -> tuple[Image, Job]:
    """An image whose original is not stored yet, and its ingest job (in the caller's transaction).

    The ingest job first stores the original (``images.store_original``): the parts of a
    finished resumable upload, or the raster of an import by reference (``source_url``).
    """
    with transaction.atomic():
        image = Image.objects.create(
            project=project, name=clean_name(name), uploaded_by=user, original_size=size, source_url=source_url
        )
        job = jobs.enqueue(JobKind.INGEST, project, image, user)
    return image, job
