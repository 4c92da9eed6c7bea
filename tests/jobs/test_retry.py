"""POST /api/v1/jobs/{id}/retry/ (owners): a failed, cancelled or stuck job is queued again;
and what the API says about a job whose worker stopped reporting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.choices import JobKind, JobStatus
from annotator.models import Job
from tests.support.workflow import make_image


@pytest.fixture
def image(cast):
    return make_image(cast.project)


def a_job(cast, image, status: str, *, silent_s: float | None = None, **fields) -> Job:
    now = timezone.now()
    values = {"status": status, "started_at": now - timedelta(seconds=600), "attempts": 1, "created_by": cast.owner}
    values.update(fields)
    if status == JobStatus.RUNNING:
        values.update(heartbeat_at=now - timedelta(seconds=silent_s or 0), attempt_token="t1", worker="elsewhere:1")
    if status in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.SUCCEEDED):
        values.update(finished_at=now)
    return Job.objects.create(project=cast.project, kind=JobKind.ENCODE, target=image, **values)


def retry(client, job: Job):
    return client.post(f"/api/v1/jobs/{job.pk}/retry/")


def test_an_owner_retries_a_failed_job_which_is_queued_again_with_fresh_attempts(cast, image, client_for):
    job = a_job(cast, image, JobStatus.FAILED, error="The job was started 3 time(s)...", attempts=3, progress=0.5)
    response = retry(client_for(cast.owner), job)
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["attempts"], body["error"], body["message"]) == ("queued", 0, "", "queued again")
    job.refresh_from_db()
    assert job.finished_at is None and job.published_at is None and job.attempt_token == "" and job.progress == 0


@pytest.mark.parametrize("status", [JobStatus.CANCELLED, JobStatus.QUEUED])
def test_an_owner_retries_a_cancelled_or_a_queued_job(cast, image, client_for, status):
    response = retry(client_for(cast.owner), a_job(cast, image, status))
    assert response.status_code == 202 and response.json()["status"] == "queued"


def test_an_owner_retries_a_running_job_whose_worker_stopped_reporting(cast, image, client_for, settings):
    settings.JOB_STALE_S = 60
    job = a_job(cast, image, JobStatus.RUNNING, silent_s=75)
    response = retry(client_for(cast.owner), job)
    assert response.status_code == 202 and response.json()["status"] == "queued"


def test_a_job_whose_worker_reports_is_not_retried(cast, image, client_for, settings):
    settings.JOB_STALE_S = 60
    job = a_job(cast, image, JobStatus.RUNNING, silent_s=4)
    response = retry(client_for(cast.owner), job)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "job_running" and body["status"] == "running" and 3 < body["heartbeat_age_s"] < 30
    assert "Cancel it first" in body["detail"]
    assert Job.objects.get(pk=job.pk).attempt_token == "t1"


def test_a_job_that_succeeded_is_not_retried(cast, image, client_for):
    response = retry(client_for(cast.owner), a_job(cast, image, JobStatus.SUCCEEDED))
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_a_job_that_a_newer_one_replaced_is_not_retried(cast, image, client_for):
    old = a_job(cast, image, JobStatus.CANCELLED)
    newer = a_job(cast, image, JobStatus.QUEUED)
    response = retry(client_for(cast.owner), old)
    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and response.json()["newer_job"] == newer.pk


@pytest.mark.parametrize("role", ["reviewer", "annotator", "viewer"])
def test_only_owners_retry_jobs(cast, image, client_for, role):
    job = a_job(cast, image, JobStatus.FAILED, created_by=getattr(cast, role))  # even the job's creator
    response = retry(client_for(getattr(cast, role)), job)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


def test_a_stranger_does_not_find_the_job_and_anonymous_must_log_in(cast, image, client_for):
    job = a_job(cast, image, JobStatus.FAILED)
    assert retry(client_for(cast.stranger), job).status_code == 404
    assert retry(client_for(None), job).status_code in (401, 403)
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


def test_the_api_says_when_a_running_jobs_worker_stopped_reporting(cast, image, client_for, settings):
    settings.JOB_STALE_S = 60
    settings.JOB_MAX_ATTEMPTS = 3
    reporting = a_job(cast, image, JobStatus.RUNNING, silent_s=5)
    silent = a_job(cast, make_image(cast.project, name="b.tif"), JobStatus.RUNNING, silent_s=300, attempts=2)
    client = client_for(cast.viewer)
    body = client.get(f"/api/v1/jobs/{reporting.pk}/").json()
    assert body["stalled"] is False and 4 < body["heartbeat_age_s"] < 30
    assert (body["attempts"], body["max_attempts"]) == (1, 3)
    body = client.get(f"/api/v1/jobs/{silent.pk}/").json()
    assert body["stalled"] is True and body["heartbeat_age_s"] >= 300 and body["attempts"] == 2
    # The project page reads the image's latest job from the image list.
    images = client.get(f"/api/v1/projects/{cast.project.pk}/images/").json()["results"]
    summaries = {row["id"]: row["job"] for row in images}
    assert summaries[silent.target_id]["stalled"] is True and summaries[image.pk]["stalled"] is False
    queued = a_job(cast, image, JobStatus.QUEUED)
    body = client.get(f"/api/v1/jobs/{queued.pk}/").json()
    assert body["stalled"] is False and body["heartbeat_age_s"] is None
