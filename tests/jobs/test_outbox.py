"""Broker outages: a job is a committed row first, its message is sent from the row, and a
job that could not be sent is sent once the broker is back.

Every test runs its own ``redis-server`` on a free port and stops it to make the outage;
the shared Redis is never touched.
"""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator import jobs
from annotator.choices import JobStatus
from annotator.models import Export, Image, Job
from annotator.storage import get_storage
from tests.support.broker import RedisServer, celery_app_at
from tests.support.processes import WorkerProcess, test_database_url
from tests.support.rasters import data_file

pytestmark = pytest.mark.django_db(transaction=True)

RASTER = "hillshade_1band_3857.tif"


@pytest.fixture
def broker(tmp_path):
    """A private Redis that this process's Celery app sends to; stop() and start() make an outage."""
    server = RedisServer(tmp_path / "redis.log")
    server.start()
    with celery_app_at(server.url):
        yield server
    server.stop()


def upload(client, project):
    payload = SimpleUploadedFile(RASTER, data_file(RASTER).read_bytes())
    return client.post(f"/api/v1/projects/{project.pk}/images/", {"file": payload}, format="multipart")


def test_an_upload_while_the_broker_is_down_is_accepted_and_sent_with_the_next_job(broker, cast, client_for):
    client = client_for(cast.owner)
    broker.stop()
    started = time.monotonic()
    response = upload(client, cast.project)
    seconds = time.monotonic() - started
    assert response.status_code == 201, response.content
    assert response.json()["job"]["status"] == "queued"
    assert seconds < 5  # the failed send gives up quickly
    image = Image.objects.get(pk=response.json()["id"])
    assert get_storage().exists(image.original_key)
    ingest = Job.objects.get(pk=response.json()["job"]["id"])
    assert (ingest.status, ingest.published_at) == (JobStatus.QUEUED, None)
    assert jobs.has_backlog()

    broker.start()
    response = client.post(f"/api/v1/projects/{cast.project.pk}/exports/", {"formats": ["gpkg"]}, format="json")
    assert response.status_code == 202, response.content
    export_job = Export.objects.get(pk=response.json()["id"]).job
    # The export's send succeeded, and the backlog went with it: one message each.
    ingest.refresh_from_db()
    export_job.refresh_from_db()
    assert ingest.published_at is not None and export_job.published_at is not None
    assert broker.queue_length("default") == 2
    assert jobs.publish_pending() == 0 and not jobs.has_backlog()
    assert broker.queue_length("default") == 2


def test_a_job_cancelled_before_it_was_ever_sent_is_never_sent(broker, cast, client_for):
    broker.stop()
    response = upload(client_for(cast.owner), cast.project)
    job_id = response.json()["job"]["id"]
    assert client_for(cast.owner).post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 200
    broker.start()
    assert jobs.publish_pending() == 0
    assert broker.queue_length("default") == 0


def test_two_sweeps_at_once_send_each_job_once(broker, cast, client_for):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    broker.stop()
    ids = [upload(client_for(cast.owner), cast.project).json()["job"]["id"] for _ in range(6)]
    assert Job.objects.filter(pk__in=ids, published_at__isnull=True).count() == 6
    broker.start()

    def sweep() -> int:
        with celery_app_at(broker.url):
            try:
                return jobs.publish_pending()
            finally:
                connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        sent = sum(pool.map(lambda _: sweep(), range(3)))
    assert sent == 6 and broker.queue_length("default") == 6
    assert not Job.objects.filter(pk__in=ids, published_at__isnull=True).exists()


@pytest.mark.worker
@pytest.mark.timeout(600)
def test_a_job_queued_during_an_outage_runs_once_the_broker_is_back_without_a_worker_restart(
    broker, cast, client_for, settings, storage_root, tmp_path, wait_for
):
    settings.CELERY_BROKER_URL = broker.url  # the worker listens there
    worker = WorkerProcess(test_database_url(), storage_root, tmp_path / "worker.log", queues="default")
    worker.start()
    try:
        broker.stop()
        response = upload(client_for(cast.owner), cast.project)
        assert response.status_code == 201, response.content
        job_id = response.json()["job"]["id"]
        assert Job.objects.get(pk=job_id).published_at is None
        broker.start()
        # The worker reconnects by itself; its consumer then sends what the outage held back.
        finished = wait_for(lambda: Job.objects.get(pk=job_id).is_finished, interval_s=0.5)
        log = worker.log_path.read_text(errors="replace")[-4000:]
        assert finished, log
        job = Job.objects.get(pk=job_id)
        assert job.status == JobStatus.SUCCEEDED and job.published_at is not None, job.error
    finally:
        worker.stop()


def test_in_eager_mode_a_job_runs_in_the_request_once_its_row_is_committed(broker, cast, client_for):
    from celery import current_app

    current_app.conf.task_always_eager = True
    response = client_for(cast.owner).post(
        f"/api/v1/projects/{cast.project.pk}/exports/", {"formats": ["gpkg"]}, format="json"
    )
    assert response.status_code == 202, response.content
    job = Export.objects.get(pk=response.json()["id"]).job
    assert job.status == JobStatus.SUCCEEDED and job.published_at is not None, job.error
    assert broker.queue_length("default") == 0
