from __future__ import annotations

from celery import shared_task

from annotator.jobs import run_job
from annotator.models import Image, Job
from annotator.sam2 import encoding


@shared_task(name="tasks.encode.encode_image")
def encode_image_task(job_id: int) -> None:
    """Encode the SAM2 features of the image a Job row points to (queue ``encode``)."""

    def work(job: Job) -> str:
        image = Image.objects.select_related("project").get(pk=job.target_id)
        try:
            return encoding.encode_image(image, job=job).message
        except encoding.EncodeCancelled:
            return "cancelled"

    run_job(job_id, work)
