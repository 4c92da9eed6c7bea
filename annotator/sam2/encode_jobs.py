"""Queueing SAM2 encode jobs: start, re-encode after a model or band change, find active ones.

Kept apart from :mod:`annotator.sam2.encoding` (the encoder itself) so that whoever only
queues an encode (the ingest runner on the ``default`` worker, the web process) never
imports torch.
"""

from __future__ import annotations

import contextlib

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from annotator import jobs
from annotator.choices import ImageStatus, JobKind, JobStatus
from annotator.errors import Conflict
from annotator.models import FeatureTile, Image, Job
from annotator.storage import get_storage


def features_prefix(image: Image) -> str:
    return f"{image.storage_prefix}/features"


def active_encode_jobs(image: Image):
    return Job.objects.filter(
        kind=JobKind.ENCODE,
        target_type=ContentType.objects.get_for_model(Image),
        target_id=image.pk,
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
    )


def start_encode(image: Image, user=None) -> Job:
    """Queue an encode job for ``image``, cancelling any earlier one.

    The image stays ``ready`` until a worker starts the job (then ``encoding``, then ``encoded``).
    """
    if not image.cog_key:
        raise Conflict("The image has no Cloud-Optimized GeoTIFF yet; it cannot be encoded.")
    with transaction.atomic():
        for job in active_encode_jobs(image):
            with contextlib.suppress(Conflict):
                jobs.cancel(job)
        return jobs.enqueue(JobKind.ENCODE, image.project, image, user)


def reencode(image: Image, user=None) -> Job | None:
    """Delete the image's features now and queue a fresh encode (after a model or band change).

    Images without a COG (not ingested yet, or failed) have nothing to re-encode.
    """
    if not image.cog_key or image.status in (ImageStatus.UPLOADED, ImageStatus.INGESTING, ImageStatus.FAILED):
        return None
    FeatureTile.objects.filter(image=image).delete()
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.READY)
    image.status = ImageStatus.READY
    prefix = features_prefix(image)
    transaction.on_commit(lambda: get_storage().delete_prefix(prefix))
    return start_encode(image, user)


def reencode_project(project, user=None) -> list[Job]:
    """Re-encode every ingested image of a project (its SAM2 model changed)."""
    started = []
    for image in Image.objects.filter(project=project).select_related("project"):
        job = reencode(image, user)
        if job is not None:
            started.append(job)
    return started
