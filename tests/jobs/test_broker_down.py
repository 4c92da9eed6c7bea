"""With the broker down, exports, vector imports and clicks still get an answer a person can
use, leave no orphan behind, and the queued work runs once the broker is back.

Each test runs its own ``redis-server`` on a free port and stops it to make the outage.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator import jobs
from annotator.choices import JobStatus
from annotator.models import Export, Job, VectorImport
from tests.support.broker import RedisServer, celery_app_at
from tests.support.vectors import write_vector

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path / "redis.log")
    server.start()
    with celery_app_at(server.url):
        yield server
    server.stop()


def _sent_once_back(broker, job: Job) -> None:
    """Bring the broker back and check the held job is sent exactly once."""
    broker.start()
    assert jobs.publish_pending() == 1
    job.refresh_from_db()
    assert job.published_at is not None
    assert broker.queue_length("default") == 1
    assert jobs.publish_pending() == 0


def test_an_export_started_while_the_broker_is_down_is_kept_queued_and_sent_once_it_is_back(
    broker, cast, client_for, image
):
    broker.stop()
    response = client_for(cast.owner).post(
        f"/api/v1/projects/{cast.project.pk}/exports/", {"formats": ["geojson"]}, format="json"
    )
    assert response.status_code == 202, response.content
    export = Export.objects.get(pk=response.json()["id"])
    assert (export.job.status, export.job.published_at) == (JobStatus.QUEUED, None)
    assert Export.objects.count() == 1 and Job.objects.count() == 1
    _sent_once_back(broker, export.job)


def test_a_vector_import_while_the_broker_is_down_is_kept_queued_and_sent_once_it_is_back(
    broker, cast, client_for, image, tmp_path
):
    path = write_vector(tmp_path / "fields.geojson", "GeoJSON", 4326)
    broker.stop()
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    response = client_for(cast.owner).post(
        f"/api/v1/projects/{cast.project.pk}/imports/", {"file": upload, "image": image.pk}, format="multipart"
    )
    assert response.status_code in (201, 202), response.content
    vector_import = VectorImport.objects.get()
    job = Job.objects.get()
    assert (job.status, job.published_at) == (JobStatus.QUEUED, None)
    assert vector_import.file_key
    _sent_once_back(broker, job)
