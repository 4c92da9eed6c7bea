"""Image lifecycle: upload, band mapping changes, deletion."""

from __future__ import annotations

import contextlib
import logging

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from annotator import jobs
from annotator.choices import ImageStatus, JobKind
from annotator.errors import GeopromptError, InvalidInput
from annotator.imagery.ingest import ingest_image, stretch_for
from annotator.imagery.pending import clean_name
from annotator.models import Image, Job, Project
from annotator.storage import get_storage

logger = logging.getLogger(__name__)


def create_from_upload(project: Project, uploaded_file, user, name: str = "") -> tuple[Image, Job]:
    """Store an uploaded raster and queue its ingest.

    The row and the stored file appear together or not at all: if writing the file fails,
    the row is rolled back and the partial object removed. The ingest job is committed with
    them; if the broker is down its message is sent later (:mod:`annotator.jobs.outbox`),
    so the upload still succeeds with the job ``queued``.
    """
    if uploaded_file is None:
        raise InvalidInput("Attach the raster as the multipart field 'file'.", field="file")
    storage = get_storage()
    with transaction.atomic():
        image = Image.objects.create(
            project=project,
            name=clean_name(name or uploaded_file.name or "image"),
            uploaded_by=user,
            original_size=uploaded_file.size or 0,
        )
        key = f"{image.storage_prefix}/original.tif"
        try:
            uploaded_file.seek(0)
            image.original_size = storage.put_stream(uploaded_file, key)
        except BaseException:
            with contextlib.suppress(Exception):
                storage.delete_prefix(image.storage_prefix)
            raise
        image.original_key = key
        image.save(update_fields=["original_key", "original_size"])
        job = jobs.enqueue(JobKind.INGEST, project, image, user)
    return image, job


def store_original(image: Image, progress=lambda fraction, message: None) -> None:
    """Put an image's original in storage if it is not there yet (a no-op for multipart uploads).

    A failure leaves the image ``failed`` with a message and nothing of it in storage; a
    resumable upload's parts are kept, so a retry of the job can assemble them again.
    """
    from annotator.imagery import references, resumable

    if image.original_key:
        return
    try:
        progress(0.01, "storing the original")
        if not resumable.assemble(image):
            if not image.source_url:
                raise InvalidInput("The image has no original: its upload did not finish.")
            references.copy_original(image)
    except Exception as exc:
        with contextlib.suppress(Exception):
            get_storage().delete_prefix(image.storage_prefix)
        if isinstance(exc, GeopromptError):
            message = exc.message
        else:
            logger.exception("storing the original of image %s failed", image.pk)
            message = (
                "Storing the original failed because of an error on the server; the details are in the worker's log."
            )
        Image.objects.filter(pk=image.pk).update(status=ImageStatus.FAILED, error=message, original_key="")
        raise


@jobs.register(JobKind.INGEST)
def run_ingest_job(job: Job) -> str:
    """Runner of ``ingest`` jobs: store the original if it is elsewhere, validate it, compute
    statistics, write the COG, queue the encode."""
    from annotator.sam2.encode_jobs import start_encode

    image = Image.objects.get(pk=job.target_id)
    store_original(image, progress=job.set_progress)
    ingest_image(image, progress=job.set_progress)
    # The SAM2 encode job follows every successful ingest (queue "encode").
    start_encode(image, job.created_by)
    return f"{image.width} x {image.height} px, {image.band_count} band(s)"


def set_band_mapping(image: Image, mapping: list[int] | None, stretch: list[list[float]] | None, user=None) -> Image:
    """Change which bands are shown as R, G, B and their stretch (source units).

    Without an explicit stretch, the stretch follows the new bands' p2/p98. A change queues
    a SAM2 encode job by ``user`` (the features of the old bands are deleted); the same
    values again change nothing.
    """
    if image.band_count is None:
        raise InvalidInput("The image has not been ingested yet.", field="band_mapping")
    new_mapping = list(image.band_mapping)
    if mapping is not None:
        if len(mapping) != 3 or any(not isinstance(b, int) or not 1 <= b <= image.band_count for b in mapping):
            raise InvalidInput(
                f"band_mapping must be three band numbers between 1 and {image.band_count}.", field="band_mapping"
            )
        new_mapping = mapping
    if stretch is not None:
        valid = len(stretch) == 3 and all(
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(v, int | float) for v in pair)
            and pair[1] > pair[0]
            for pair in stretch
        )
        if not valid:
            raise InvalidInput("stretch must be three [low, high] pairs with high > low.", field="stretch")
        new_stretch = [[float(a), float(b)] for a, b in stretch]
    else:
        new_stretch = stretch_for(new_mapping, image.band_stats) if mapping is not None else image.stretch
    changed = new_mapping != list(image.band_mapping) or new_stretch != list(image.stretch)
    with transaction.atomic():
        image.band_mapping = new_mapping
        image.stretch = new_stretch
        image.save(update_fields=["band_mapping", "stretch", "updated_at"])
        if changed:
            # SAM2 saw the old bands: its features are deleted and the image encoded again.
            from annotator.sam2.encode_jobs import reencode

            reencode(image, user)
    return image


def delete_image(image: Image) -> None:
    """Delete the row and every stored file of the image (upload, COG, features)."""
    prefix = image.storage_prefix
    with transaction.atomic():
        Job.objects.filter(target_type=ContentType.objects.get_for_model(Image), target_id=image.pk).delete()
        image.delete()
        transaction.on_commit(lambda: get_storage().delete_prefix(prefix))
