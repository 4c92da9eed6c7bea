"""A failed vector import keeps nothing in storage; a successful one keeps its file."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.support.vectors import write_vector
from tests.support.workflow import DATA_RASTER


def _import(client, cast, image, name: str, content: bytes, capture):
    """POST an import and run its job in this process; returns (VectorImport row, Job row)."""
    from annotator.models import Job, VectorImport
    from tasks.jobs import run_job_task

    with capture(execute=False):
        response = client.post(
            f"/api/v1/projects/{cast.project.pk}/imports/",
            {"file": SimpleUploadedFile(name, content), "image": image.pk},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    job_id = response.json()["job"]["id"]
    run_job_task(job_id)
    return VectorImport.objects.get(pk=response.json()["id"]), Job.objects.get(pk=job_id)


def _stored_imports(storage_root: Path) -> list[str]:
    return sorted(str(p.relative_to(storage_root)) for p in storage_root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("roads.geojson", b"this is not GeoJSON at all"),
        ("scene.gpkg", DATA_RASTER.read_bytes()),
        ("fields.zip", b"PK\x03\x04 a zip cut short"),
    ],
)
def test_a_failed_import_deletes_its_uploaded_file(
    cast, image, client_for, django_capture_on_commit_callbacks, storage_root, name, content
):
    record, job = _import(client_for(cast.owner), cast, image, name, content, django_capture_on_commit_callbacks)
    assert job.status == "failed", job.message
    assert _stored_imports(storage_root) == []
    record.refresh_from_db()
    assert record.file_key == ""


def test_a_successful_import_keeps_its_file(
    cast, image, client_for, django_capture_on_commit_callbacks, storage_root, tmp_path
):
    path = write_vector(tmp_path / "fields.geojson", "GeoJSON", 32614)
    record, job = _import(
        client_for(cast.owner), cast, image, "fields.geojson", path.read_bytes(), django_capture_on_commit_callbacks
    )
    assert job.status == "succeeded", job.error
    assert _stored_imports(storage_root) == [record.file_key]


def test_an_import_whose_job_cannot_be_queued_keeps_no_file(cast, image, client_for, storage_root, monkeypatch):
    from annotator import jobs
    from annotator.models import VectorImport

    def broken_enqueue(*args, **kwargs):
        raise ConnectionError("the database dropped the connection")

    monkeypatch.setattr(jobs, "enqueue", broken_enqueue)
    with pytest.raises(ConnectionError):
        client_for(cast.owner).post(
            f"/api/v1/projects/{cast.project.pk}/imports/",
            {
                "file": SimpleUploadedFile("roads.geojson", b'{"type": "FeatureCollection", "features": []}'),
                "image": image.pk,
            },
            format="multipart",
        )
    assert not VectorImport.objects.exists()
    assert _stored_imports(storage_root) == []
