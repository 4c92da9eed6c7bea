from __future__ import annotations

from celery import shared_task

from annotator.exports.build import build_export
from annotator.jobs import run_job
from annotator.models import Export, Job


@shared_task(name="tasks.export.build_export")
def export_task(job_id: int) -> None:
    """Build the export a Job row points to and store its zip."""

    def work(job: Job) -> str:
        export = Export.objects.select_related("project", "created_by").get(pk=job.target_id)
        export = build_export(export, progress=lambda fraction, message: job.set_progress(fraction, message))
        return f"{export.counts.get('annotations', 0)} annotations, {export.size_bytes} bytes"

    run_job(job_id, work)
