"""End to end: an upload through the API is ingested by a real Celery worker process."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.choices import ImageStatus, JobStatus
from annotator.models import Image, Job
from annotator.storage import get_storage
from tests.support.rasters import data_file

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _upload(client, project, name, payload):
    response = client.post(
        f"/api/v1/projects/{project.pk}/images/", {"file": SimpleUploadedFile(name, payload)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_real_worker_ingests_an_upload_and_the_api_reports_its_job(cast, client_for, celery_worker, wait_for):
    client = client_for(cast.owner)
    body = _upload(client, cast.project, "naip.tif", data_file("naip_rgbn_utm14_2020.tif").read_bytes())
    image_id, job_id = body["id"], body["job"]["id"]

    def ingested():
        return Job.objects.get(pk=job_id).status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    assert wait_for(ingested), celery_worker.log_tail()
    job = client.get(f"/api/v1/jobs/{job_id}/").json()
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    assert job["started_at"] and job["finished_at"]
    assert job["target"] == {"type": "image", "id": image_id}
    image = Image.objects.get(pk=image_id)
    assert image.status in (ImageStatus.READY, ImageStatus.ENCODING, ImageStatus.ENCODED)
    assert get_storage().exists(image.cog_key)
    listed = client.get(f"/api/v1/projects/{cast.project.pk}/jobs/").json()
    assert job_id in [j["id"] for j in listed["results"]]


def test_a_real_worker_fails_a_bad_upload_with_a_message_and_no_files(cast, client_for, celery_worker, wait_for):
    client = client_for(cast.owner)
    body = _upload(client, cast.project, "notes.tif", b"not a raster at all\n" * 100)
    job_id = body["job"]["id"]
    assert wait_for(lambda: Job.objects.get(pk=job_id).status == JobStatus.FAILED), celery_worker.log_tail()
    job = client.get(f"/api/v1/jobs/{job_id}/").json()
    assert "not a GeoTIFF" in job["error"]
    image = client.get(f"/api/v1/images/{body['id']}/").json()
    assert image["status"] == "failed"
    assert "not a GeoTIFF" in image["error"]
    assert get_storage().list_keys(f"projects/{cast.project.pk}") == []
