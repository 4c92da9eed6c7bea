"""The job registry: every kind has a runner and a queue; one generic task runs them all."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from annotator import jobs
from annotator.choices import JobKind, JobStatus
from annotator.models import Job
from tests.support.workflow import make_image

# What the workers are started with (README, docker-compose, scripts/run.sh): SAM2 encodes
# on their own queue, everything else on "default".
EXPECTED_QUEUES = {
    JobKind.INGEST: "default",
    JobKind.ENCODE: "encode",
    JobKind.EXPORT: "default",
    JobKind.IMPORT: "default",
    # The evaluation replays clicks through the SAM2 decoder, so it runs where torch is loaded.
    JobKind.EVALUATE: "encode",
    # Consensus drafts are vector geometry and a raster grid in metres: no torch.
    JobKind.CONSENSUS: "default",
    # Segment everything / find similar run SAM2's decoder on the cached features.
    JobKind.DRAFTS: "encode",
}


def test_the_registry_knows_every_job_kind_and_its_queue():
    runners = jobs.runners()
    assert set(runners) == set(JobKind.values)
    assert {kind: runner.queue for kind, runner in runners.items()} == EXPECTED_QUEUES
    assert all(runner.kind == kind and callable(runner.run) for kind, runner in runners.items())


def test_each_runner_lives_with_its_concept_and_no_service_imports_a_task_module():
    modules = {kind: runner.run.__module__ for kind, runner in jobs.runners().items()}
    assert modules == {
        JobKind.INGEST: "annotator.imagery.images",
        JobKind.ENCODE: "annotator.sam2.encoding",
        JobKind.EXPORT: "annotator.exports.build",
        JobKind.IMPORT: "annotator.workflow.vector_import",
        JobKind.EVALUATE: "annotator.quality.evaluation",
        JobKind.CONSENSUS: "annotator.quality.agreement",
        JobKind.DRAFTS: "annotator.drafts.runs",
    }


def test_the_one_celery_task_that_runs_every_job_is_registered_by_name():
    from backend.celery import app
    from tasks.jobs import run_job_task

    assert run_job_task.name == jobs.RUN_JOB_TASK and jobs.RUN_JOB_TASK in app.tasks


def test_a_second_runner_for_a_kind_is_refused_and_an_unknown_queue_too(settings):
    from django.apps import apps

    with pytest.raises(ImproperlyConfigured, match="already run through"):
        jobs.register(JobKind.ENCODE)(lambda job: "")
    assert jobs.runner_for(JobKind.ENCODE).run.__name__ == "run_encode_job"
    config = apps.get_app_config("annotator")
    declared = config.job_runners
    config.job_runners = {**declared, JobKind.ENCODE: ("annotator.sam2.encoding", "gpu")}
    try:
        with pytest.raises(ImproperlyConfigured, match="Unknown job queue"):
            jobs.queue_for(JobKind.ENCODE)
    finally:
        config.job_runners = declared


def test_the_default_workers_runners_and_queueing_an_encode_never_load_torch():
    code = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'backend.settings'); django.setup();"
        "from annotator import jobs; print([jobs.queue_for(k) for k in ('ingest', 'encode', 'export', 'import')]);"
        "jobs.runner_for('ingest'); jobs.runner_for('export'); jobs.runner_for('import');"
        "from annotator.sam2 import encode_jobs;"
        "print('torch' in sys.modules)"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "['default', 'encode', 'default', 'default']"
    assert out[1] == "False"


def test_the_latest_jobs_of_many_images_come_in_one_query(cast, django_assert_num_queries):
    images = [make_image(cast.project, name=f"{i}.tif") for i in range(3)]
    older = Job.objects.create(project=cast.project, kind=JobKind.INGEST, target=images[0])
    newer = Job.objects.create(project=cast.project, kind=JobKind.ENCODE, target=images[0])
    only = Job.objects.create(project=cast.project, kind=JobKind.INGEST, target=images[1])
    Job.objects.create(project=cast.project, kind=JobKind.EXPORT, target=cast.project)  # another model
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.get_for_model(images[0])  # the content type cache is warm in a running server
    with django_assert_num_queries(1):
        latest = jobs.latest_jobs_for(images)
    assert latest == {images[0].pk: newer, images[1].pk: only}
    assert jobs.latest_jobs_for(images, JobKind.INGEST) == {images[0].pk: older, images[1].pk: only}
    assert jobs.latest_job_for(images[2]) is None and jobs.latest_jobs_for([]) == {}


def test_run_job_skips_a_cancelled_job_and_records_a_runners_error(cast):
    image = make_image(cast.project)
    cancelled = Job.objects.create(project=cast.project, kind=JobKind.INGEST, target=image, status="cancelled")
    assert jobs.run_job(cancelled.pk).status == JobStatus.CANCELLED
    failing = Job.objects.create(project=cast.project, kind=JobKind.INGEST, target=image)
    job = jobs.run_job(failing.pk)  # the row has no upload: the ingest runner raises
    assert job.status == JobStatus.FAILED and job.error and job.started_at and job.finished_at
    assert jobs.run_job(10**9) is None
