"""The encode job on a real Celery worker: end to end, SIGKILL and resume, cancel.

Images are made a little larger than one window (several windows, two levels) so that
the job has work to interrupt; the model is the untrained tiny one.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.contenttypes.models import ContentType

from annotator.choices import ImageStatus, JobKind, JobStatus
from annotator.models import FeatureTile, Image, Job
from annotator.sam2 import encode_jobs, encoding, features
from annotator.storage import get_storage
from tests.support.sam2 import ingest_file, resampled_raster

pytestmark = [pytest.mark.worker, pytest.mark.timeout(600)]


def encode_job(image: Image) -> Job:
    return Job.objects.filter(
        kind=JobKind.ENCODE, target_type=ContentType.objects.get_for_model(Image), target_id=image.pk
    ).latest("id")


def assert_complete_consistent_cache(image: Image) -> None:
    """One row per planned window, every file whole and loadable, nothing else in storage."""
    plan = encoding.image_windows(image)
    tiles = list(FeatureTile.objects.filter(image=image))
    assert len(tiles) == len(plan)
    assert {(t.level, t.row_off, t.col_off) for t in tiles} == {(w.level, w.row_off, w.col_off) for w in plan}
    assert len({t.cache_key for t in tiles}) == 1
    keys = get_storage().list_keys(encode_jobs.features_prefix(image))
    assert sorted(keys) == sorted(t.storage_key for t in tiles)  # no partial or orphan files
    for tile in tiles:
        tensors = features.load_window_tensors(tile.storage_key)
        assert tensors["high_res_feats_0"].shape == (32, 256, 256)
        assert get_storage().size(tile.storage_key) == tile.size_bytes


def test_a_worker_encodes_an_uploaded_image_after_ingest(start_worker, cast, client_for, tmp_path, wait_for):
    start_worker()
    path = resampled_raster(tmp_path / "fields.tif", 1100, 900)
    with open(path, "rb") as fh:
        response = client_for(cast.owner).post(
            f"/api/v1/projects/{cast.project.pk}/images/", {"file": fh}, format="multipart"
        )
    assert response.status_code == 201, response.content
    image = Image.objects.get(pk=response.json()["id"])
    assert wait_for(lambda: Image.objects.get(pk=image.pk).status in ("encoded", "failed"), interval_s=0.5)
    image.refresh_from_db()
    job = encode_job(image)
    assert (image.status, job.status) == (ImageStatus.ENCODED, JobStatus.SUCCEEDED), job.error
    assert job.progress == 1.0 and "UNTRAINED" in job.message and job.created_by == cast.owner
    assert_complete_consistent_cache(image)
    assert FeatureTile.objects.filter(image=image).count() == 3  # 2 windows at level 0, 1 at level 1
    body = client_for(cast.viewer).get(f"/api/v1/images/{image.pk}/").json()
    assert body["encoding"]["encoded_windows"] == 3 and body["encoding"]["untrained"] is True
    assert body["encoding"]["stored_bytes"] >= body["encoding"]["estimated_bytes"]


def test_a_job_whose_worker_was_killed_resumes_and_completes_without_duplicates(start_worker, cast, tmp_path, wait_for):
    image = ingest_file(cast.project, cast.owner, resampled_raster(tmp_path / "big.tif", 1400, 1100))
    total = len(encoding.image_windows(image))
    assert total == 5
    first = start_worker()
    job = encode_jobs.start_encode(image, cast.owner)
    # The window's row is stored before the job reports its progress (with an ETA): wait for both.
    assert wait_for(
        lambda: FeatureTile.objects.filter(image=image).exists() and "ETA" in Job.objects.get(pk=job.pk).message,
        interval_s=0.1,
    )
    first.kill()
    job.refresh_from_db()
    done_before = FeatureTile.objects.filter(image=image).count()
    assert job.status == JobStatus.RUNNING and 1 <= done_before < total
    assert "ETA" in job.message and job.progress > 0

    # Redis redelivers an unacknowledged task once its visibility timeout has passed.
    time.sleep(1.5)
    start_worker(GEOPROMPT_TASK_VISIBILITY_S="1")
    assert wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, interval_s=0.5)
    job.refresh_from_db()
    image.refresh_from_db()
    assert (job.status, image.status) == (JobStatus.SUCCEEDED, ImageStatus.ENCODED), job.error
    assert f"({total - done_before} encoded, {done_before} already stored)" in job.message
    assert_complete_consistent_cache(image)


def test_cancelling_through_the_api_stops_the_job(start_worker, cast, client_for, tmp_path, wait_for):
    image = ingest_file(cast.project, cast.owner, resampled_raster(tmp_path / "big.tif", 1400, 1100))
    start_worker()
    job = encode_jobs.start_encode(image, cast.annotator)
    assert wait_for(lambda: FeatureTile.objects.filter(image=image).exists(), interval_s=0.1)
    response = client_for(cast.annotator).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == JobStatus.CANCELLED
    # The worker stops before its next batch and gives the image back as "ready".
    assert wait_for(lambda: Image.objects.get(pk=image.pk).status == ImageStatus.READY, interval_s=0.2)
    stored = FeatureTile.objects.filter(image=image).count()
    time.sleep(3)
    assert FeatureTile.objects.filter(image=image).count() == stored < 5
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
