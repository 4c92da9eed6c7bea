from __future__ import annotations

from celery import shared_task

from annotator.jobs import run_job
from annotator.models import Job, VectorImport
from annotator.workflow import vector_import


@shared_task(name="tasks.vector_import.import_vectors")
def import_vectors_task(job_id: int) -> None:
    """Import the vector file a Job row points to as draft annotations (all or nothing)."""

    def work(job: Job) -> str:
        record = VectorImport.objects.select_related("image", "created_by").get(pk=job.target_id)
        return vector_import.run_import(record, progress=lambda fraction, message: job.set_progress(fraction, message))

    run_job(job_id, work)
