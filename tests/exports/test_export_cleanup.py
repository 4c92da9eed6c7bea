"""A cancelled, failed or killed export leaves nothing: no temporary folder, nothing in storage.

The worker tests run real Celery workers: one is cancelled mid-build through the API (and
prints how many seconds it took to stop), one is SIGKILLed mid-build and a new worker's
start-up sweep removes what it left.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from annotator.choices import JobStatus
from annotator.models import Export, Job
from tests.support.exports import NAIP, approved, blob
from tests.support.processes import WorkerProcess, test_database_url

# NAIP at 32 px with 16 px overlap and empty chips kept: 2,610 chips, each a PNG, a mask,
# a label file and a STAC item; a minute or more of work on a small machine.
BIG = {
    "formats": ["coco", "yolo", "masks", "stac"],
    "options": {"chip_size": 32, "chip_overlap": 16, "include_empty_chips": True},
}


@pytest.fixture
def temp_root(settings, tmp_path, monkeypatch) -> Path:
    """An empty ``TEMP_DIR`` of this test's own, for this process and the workers it starts."""
    root = tmp_path / "app-temp"
    settings.TEMP_DIR = settings.FILE_UPLOAD_TEMP_DIR = str(root)
    monkeypatch.setenv("GEOPROMPT_TEMP_DIR", str(root))
    return root


@pytest.fixture
def scene(cast, ingested_image):
    image = ingested_image(NAIP)
    for k, (cx, cy) in enumerate([(100, 100), (500, 400)]):
        approved(image, cast, blob(cx, cy, 50, seed=k))
    return image


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder`` (none if it does not exist), relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def export_leftovers(storage_root: Path) -> list[str]:
    """Files an export could leave in storage: under any export prefix, or partial writes."""
    exports = [p for p in files_under(storage_root) if "/exports/" in p]
    return exports + [f".partial/{p}" for p in files_under(storage_root / ".partial")]


def _start(client, cast) -> tuple[int, int]:
    response = client.post(f"/api/v1/projects/{cast.project.pk}/exports/", BIG, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"], response.json()["job"]["id"]


def _cutting_chips(job_id: int) -> bool:
    job = Job.objects.get(pk=job_id)
    return job.status == JobStatus.RUNNING and job.message.startswith("chips ")


@pytest.mark.django_db
def test_an_export_that_fails_mid_build_leaves_no_files(cast, scene, temp_root, storage_root, monkeypatch):
    from annotator.exports import build, create_export
    from tasks.jobs import run_job_task

    real_read_chip = build.read_chip
    calls = {"n": 0}

    def failing_read_chip(src, image, chip):
        calls["n"] += 1
        if calls["n"] > 40:
            raise OSError("the disk went away")
        return real_read_chip(src, image, chip)

    monkeypatch.setattr(build, "read_chip", failing_read_chip)
    export = create_export(cast.project, cast.owner, BIG["formats"], options=BIG["options"])
    run_job_task(export.job_id)

    job = Job.objects.get(pk=export.job_id)
    assert job.status == JobStatus.FAILED and "the disk went away" in job.error
    assert calls["n"] == 41  # it did fail in the middle of the chips
    assert files_under(temp_root) == []
    assert export_leftovers(storage_root) == []
    assert Export.objects.get(pk=export.pk).archive_key == ""


@pytest.mark.django_db
def test_an_archive_stored_just_before_the_build_fails_is_deleted(cast, scene, temp_root, storage_root, monkeypatch):
    from annotator.exports import create_export
    from annotator.storage import Storage
    from tasks.jobs import run_job_task

    export = create_export(cast.project, cast.owner, ["geojson"])
    stored = []
    real_put_file = Storage.put_file

    def recording_put_file(self, local_path, key):
        real_put_file(self, local_path, key)
        stored.append(key)

    def failing_save(*args, **kwargs):
        raise RuntimeError("the database went away")

    # The archive is stored, then saving the finished row (the build's last step) fails.
    monkeypatch.setattr(Storage, "put_file", recording_put_file)
    monkeypatch.setattr(Export, "save", failing_save)
    run_job_task(export.job_id)
    monkeypatch.undo()

    job = Job.objects.get(pk=export.job_id)
    assert job.status == JobStatus.FAILED and "the database went away" in job.error
    assert stored == [f"{export.storage_prefix}/geoprompt-export-{export.pk}.zip"]
    assert export_leftovers(storage_root) == []
    assert files_under(temp_root) == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_export_stops_it_within_seconds_and_keeps_nothing(
    cast, client_for, scene, temp_root, storage_root, celery_worker, wait_for
):
    client = client_for(cast.reviewer)
    export_id, job_id = _start(client, cast)
    assert wait_for(lambda: _cutting_chips(job_id)), celery_worker.log_tail()
    assert files_under(temp_root), "the build writes its chips in the app's temporary folder"

    cancelled_at = time.monotonic()
    response = client.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert response.status_code == 200, response.content
    progress_at_cancel = response.json()["progress"]

    def stopped() -> bool:
        return Job.objects.get(pk=job_id).message.startswith("cancelled after") and not files_under(temp_root)

    assert wait_for(stopped, interval_s=0.05), celery_worker.log_tail()
    seconds = time.monotonic() - cancelled_at
    job = Job.objects.get(pk=job_id)
    print(
        f"\nexport {export_id}: cancelled at {progress_at_cancel:.0%} of the build (chips 2,610), "
        f"stopped and cleaned {seconds:.2f} s after POST /cancel/; job message: {job.message!r}"
    )
    assert job.status == JobStatus.CANCELLED
    assert files_under(temp_root) == []
    assert export_leftovers(storage_root) == []
    body = client.get(f"/api/v1/exports/{export_id}/").json()
    assert body["status"] == "cancelled" and body["download_url"] is None
    # The worker is free again: a small export queued after it runs to the end.
    response = client.post(f"/api/v1/projects/{cast.project.pk}/exports/", {"formats": ["geojson"]}, format="json")
    small_job = response.json()["job"]["id"]
    assert wait_for(lambda: Job.objects.get(pk=small_job).is_finished), celery_worker.log_tail()
    assert Job.objects.get(pk=small_job).status == JobStatus.SUCCEEDED


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_export_folder_is_swept_when_a_worker_starts(
    cast, client_for, scene, temp_root, storage_root, celery_worker, wait_for, tmp_path
):
    _export_id, job_id = _start(client_for(cast.owner), cast)
    assert wait_for(lambda: _cutting_chips(job_id)), celery_worker.log_tail()
    celery_worker.default.kill()  # SIGKILL, as the OOM killer or a container stop would
    left = [p for p in temp_root.iterdir() if p.name.startswith("geoprompt-export-")]
    assert len(left) == 1 and files_under(left[0]), "a killed build cannot clean up after itself"

    # A second leftover that is recent: a live process may still own it, so it stays.
    recent = temp_root / "tmp-recent.upload.tif"
    recent.write_bytes(b"\0" * 1024)
    an_hour_ago = time.time() - 3700
    for path in [left[0], *left[0].rglob("*")]:
        os.utime(path, (an_hour_ago, an_hour_ago))

    worker = WorkerProcess(test_database_url(), storage_root, tmp_path / "worker-restarted.log", queues="default")
    worker.start()  # returns once the worker says "ready.", after its worker_ready sweep
    try:
        assert not left[0].exists(), worker.log_path.read_text()[-3000:]
        assert recent.exists()
        # The new worker also finds the killed build's job lost (its process is gone) and runs
        # it again from the start, in a folder of its own that it removes when it is done.
        assert wait_for(lambda: Job.objects.get(pk=job_id).is_finished), worker.log_path.read_text()[-3000:]
        assert Job.objects.get(pk=job_id).status == JobStatus.SUCCEEDED
        assert [p.name for p in temp_root.iterdir()] == ["tmp-recent.upload.tif"]
    finally:
        worker.stop()
