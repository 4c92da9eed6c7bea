"""Export API: who may export, see and download; the record it keeps; a real worker end to end."""

from __future__ import annotations

import io
import zipfile

import pytest

from annotator.choices import JobStatus
from annotator.models import Export, Job
from annotator.storage import get_storage
from tests.support.exports import NAIP, approved, blob, build_sync


def _zip_names(response) -> list[str]:
    assert response.status_code == 200, response.content
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        return archive.namelist()


@pytest.fixture
def scene(cast, ingested_image):
    from annotator.models import LabelClass

    image = ingested_image(NAIP)
    field = LabelClass.objects.create(project=cast.project, name="field")
    for k, (cx, cy) in enumerate([(100, 100), (500, 400)]):
        approved(image, cast, blob(cx, cy, 50, seed=k), field)
    return image


@pytest.mark.django_db
def test_a_reviewer_starts_an_export_and_sees_it_queued_with_its_job(cast, client_for):
    client = client_for(cast.reviewer)
    response = client.post(
        f"/api/v1/projects/{cast.project.pk}/exports/",
        {"formats": ["gpkg", "coco"], "options": {"chip_size": 512, "seed": 4}},
        format="json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["created_by"] == "reviewer"
    assert body["status"] == "queued" and body["job"]["kind"] == "export"
    assert body["filters"]["states"] == ["approved"]
    assert body["options"]["chip_size"] == 512 and body["options"]["chip_overlap"] == 0
    assert body["download_url"] is None
    listed = client.get(f"/api/v1/projects/{cast.project.pk}/exports/").json()
    assert [e["id"] for e in listed["results"]] == [body["id"]]
    assert client.get(f"/api/v1/exports/{body['id']}/download/").status_code == 409


@pytest.mark.django_db
def test_non_members_and_anonymous_callers_see_no_exports(cast, client_for, scene):
    export = build_sync(cast.project, cast.owner, ["geojson"])
    stranger = client_for(cast.stranger)
    assert stranger.get(f"/api/v1/projects/{cast.project.pk}/exports/").status_code == 404
    response = stranger.post(f"/api/v1/projects/{cast.project.pk}/exports/", {"formats": ["gpkg"]}, format="json")
    assert response.status_code == 404
    assert stranger.get(f"/api/v1/exports/{export.pk}/").status_code == 404
    assert stranger.get(f"/api/v1/exports/{export.pk}/download/").status_code == 404
    assert stranger.delete(f"/api/v1/exports/{export.pk}/").status_code == 404
    anonymous = client_for(None)
    assert anonymous.get(f"/api/v1/exports/{export.pk}/download/").status_code in (401, 403)
    assert Export.objects.filter(project=cast.project).count() == 1


@pytest.mark.django_db
def test_a_finished_export_keeps_its_record_and_streams_its_zip_to_every_member(cast, client_for, scene):
    export = build_sync(cast.project, cast.reviewer, ["geojson", "coco"], options={"chip_size": 512})
    body = client_for(cast.viewer).get(f"/api/v1/exports/{export.pk}/").json()
    assert body["created_by"] == "reviewer"
    assert body["counts"]["annotations"] == 2 and body["counts"]["images"] == 1
    assert body["size_bytes"] == get_storage().size(export.archive_key) > 0
    assert body["finished_at"] and body["download_url"].endswith(f"/api/v1/exports/{export.pk}/download/")
    for user in (cast.viewer, cast.annotator, cast.owner):
        names = _zip_names(client_for(user).get(f"/api/v1/exports/{export.pk}/download/"))
        assert {"manifest.json", "gis/annotations.geojson"} <= set(names)
        assert any(n.startswith("coco/instances_") for n in names)


@pytest.mark.django_db
def test_only_owners_or_the_creator_delete_an_export_and_its_archive(cast, client_for, scene):
    export = build_sync(cast.project, cast.reviewer, ["geojson"])
    assert client_for(cast.annotator).delete(f"/api/v1/exports/{export.pk}/").status_code == 403
    assert client_for(cast.reviewer).delete(f"/api/v1/exports/{export.pk}/").status_code == 204
    assert not Export.objects.filter(pk=export.pk).exists()
    assert not get_storage().exists(export.archive_key)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"formats": []}, "formats"),
        ({"formats": ["tfrecord"]}, "formats"),
        ({"formats": ["coco"], "options": {"chip_size": 8}}, "chip_size"),
        ({"formats": ["coco"], "options": {"chip_size": 256, "chip_overlap": 256}}, "chip_overlap"),
        ({"formats": ["coco"], "options": {"splits": {"train": 0.9, "val": 0.3}}}, "splits"),
        ({"formats": ["gpkg"], "options": {"crs": "EPSG:3857"}}, "crs"),
        ({"formats": ["gpkg"], "filters": {"states": ["finished"]}}, "states"),
        ({"formats": ["gpkg"], "filters": {"images": [999999]}}, "images"),
        ({"formats": ["gpkg"], "filters": {"area": {"type": "Point", "coordinates": [0, 0]}}}, "area"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(cast, client_for, payload, field):
    response = client_for(cast.reviewer).post(f"/api/v1/projects/{cast.project.pk}/exports/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert not Export.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_an_export_that_the_api_then_streams(cast, client_for, scene, celery_worker, wait_for):
    client = client_for(cast.reviewer)
    response = client.post(
        f"/api/v1/projects/{cast.project.pk}/exports/",
        {"formats": ["gpkg", "shapefile", "coco", "yolo", "stac"], "options": {"chip_size": 512}},
        format="json",
    )
    assert response.status_code == 202, response.content
    export_id, job_id = response.json()["id"], response.json()["job"]["id"]
    finished = wait_for(lambda: Job.objects.get(pk=job_id).is_finished)
    assert finished, celery_worker.log_tail()
    body = client.get(f"/api/v1/exports/{export_id}/").json()
    assert body["status"] == JobStatus.SUCCEEDED, body["job"]
    assert body["job"]["progress"] == 1.0 and body["job"]["target"] == {"type": "export", "id": export_id}
    assert body["counts"]["annotations"] == 2
    names = _zip_names(client.get(body["download_url"]))
    expected = {"gis/annotations.gpkg", "gis/annotations_shp.zip", "data.yaml", "stac/catalog.json"}
    assert expected <= set(names)
