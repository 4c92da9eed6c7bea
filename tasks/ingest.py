from __future__ import annotations

from celery import shared_task

from annotator.imagery import ingest as imagery
from annotator.jobs import run_job
from annotator.models import Image, Job
from annotator.sam2 import encoding


@shared_task(name="tasks.ingest.ingest_image")
def ingest_image_task(job_id: int) -> None:
    """Ingest the image a Job row points to (validation, statistics, COG)."""

    def work(job: Job) -> str:
        image = Image.objects.get(pk=job.target_id)
        imagery.ingest_image(image, progress=job.set_progress)
        # The SAM2 encode job follows every successful ingest (queue "encode").
        encoding.start_encode(image, job.created_by)
        return f"{image.width} x {image.height} px, {image.band_count} band(s)"

    run_job(job_id, work)
