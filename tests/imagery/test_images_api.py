"""Images through the API, as the owner uploads and the team looks."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.choices import ImageStatus, JobKind, JobStatus
from annotator.models import Image, Job
from annotator.storage import get_storage
from tests.support.rasters import data_file


def _upload(client, project, name="hillshade_1band_3857.tif", payload=None):
    payload = payload if payload is not None else data_file(name).read_bytes()
    return client.post(
        f"/api/v1/projects/{project.pk}/images/", {"file": SimpleUploadedFile(name, payload)}, format="multipart"
    )


class TestOwner:
    def test_upload_stores_the_file_and_queues_an_ingest_job(
        self, cast, client_for, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = _upload(client_for(cast.owner), cast.project)
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "uploaded"
        assert body["name"] == "hillshade_1band_3857.tif"
        assert body["job"]["kind"] == "ingest" and body["job"]["status"] == "queued"
        image = Image.objects.get(pk=body["id"])
        assert get_storage().read_bytes(image.original_key) == data_file("hillshade_1band_3857.tif").read_bytes()
        assert image.original_size == data_file("hillshade_1band_3857.tif").stat().st_size
        # The task is sent only after the transaction commits.
        assert len(callbacks) == 1

    def test_an_upload_over_the_size_limit_gets_413_and_leaves_nothing(self, cast, client_for, settings):
        settings.MAX_UPLOAD_BYTES = 100_000
        response = _upload(client_for(cast.owner), cast.project, "landsat_rgb_utm18.tif")
        assert response.status_code == 413
        assert "upload limit" in response.json()["detail"]
        assert Image.objects.count() == 0
        assert Job.objects.count() == 0
        assert get_storage().list_keys("projects") == []

    def test_an_upload_without_a_file_names_the_field(self, cast, client_for):
        response = client_for(cast.owner).post(f"/api/v1/projects/{cast.project.pk}/images/", {}, format="multipart")
        assert response.status_code == 400
        assert "file" in response.json()

    def test_a_file_name_with_folders_is_reduced_to_its_base_name(self, cast, client_for):
        payload = data_file("hillshade_1band_3857.tif").read_bytes()
        response = client_for(cast.owner).post(
            f"/api/v1/projects/{cast.project.pk}/images/",
            {"file": SimpleUploadedFile("../../etc/evil.tif", payload)},
            format="multipart",
        )
        assert response.status_code == 201
        image = Image.objects.get(pk=response.json()["id"])
        assert image.name == "evil.tif"
        assert image.original_key == f"projects/{cast.project.pk}/images/{image.pk}/original.tif"

    def test_delete_removes_the_row_and_every_file(
        self, cast, client_for, ingested_image, django_capture_on_commit_callbacks
    ):
        image = ingested_image("hillshade_1band_3857.tif")
        prefix = image.storage_prefix
        assert len(get_storage().list_keys(prefix)) == 2
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(cast.owner).delete(f"/api/v1/images/{image.pk}/")
        assert response.status_code == 204
        assert not Image.objects.filter(pk=image.pk).exists()
        assert get_storage().list_keys(prefix) == []

    def test_band_mapping_change_recomputes_the_stretch(self, cast, client_for, ingested_image):
        image = ingested_image("naip_rgbn_utm14_2020.tif")
        response = client_for(cast.owner).patch(
            f"/api/v1/images/{image.pk}/", {"band_mapping": [4, 1, 2]}, format="json"
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["band_mapping"] == [4, 1, 2]
        nir = image.band_stats[3]
        assert body["stretch"][0] == [nir["p2"], nir["p98"]]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"band_mapping": [1, 2]}, "band_mapping"),
            ({"band_mapping": [1, 2, 9]}, "band_mapping"),
            ({"stretch": [[10, 5], [0, 1], [0, 1]]}, "stretch"),
        ],
    )
    def test_bad_band_settings_are_refused_with_the_field_named(self, cast, client_for, ingested_image, change, field):
        image = ingested_image("naip_rgbn_utm14_2020.tif")
        response = client_for(cast.owner).patch(f"/api/v1/images/{image.pk}/", change, format="json")
        assert response.status_code == 400
        assert response.json()["field"] == field
        image.refresh_from_db()
        assert image.band_mapping == [1, 2, 3]

    def test_the_last_owner_cannot_leave_or_be_demoted(self, cast, client_for):
        from annotator.models import Membership

        mine = Membership.objects.get(project=cast.project, user=cast.owner)
        client = client_for(cast.owner)
        url = f"/api/v1/projects/{cast.project.pk}/members/{mine.pk}/"
        assert client.patch(url, {"role": "viewer"}, format="json").status_code == 409
        assert client.delete(url).status_code == 409
        mine.refresh_from_db()
        assert mine.role == "owner"

    def test_a_label_class_colour_must_be_hex(self, cast, client_for):
        response = client_for(cast.owner).post(
            f"/api/v1/projects/{cast.project.pk}/label-classes/", {"name": "pond", "colour": "blue"}, format="json"
        )
        assert response.status_code == 400
        assert "colour" in response.json()


class TestViewer:
    def test_image_detail_gives_status_progress_bounds_and_tiles(self, cast, client_for, ingested_image):
        image = ingested_image("naip_rgbn_utm14_2020.tif")
        Job.objects.create(
            project=cast.project, kind=JobKind.INGEST, target=image, status=JobStatus.SUCCEEDED, progress=1.0
        )
        body = client_for(cast.viewer).get(f"/api/v1/images/{image.pk}/").json()
        assert body["status"] == ImageStatus.READY
        assert body["epsg"] == 26914
        assert body["width"] == 934 and body["height"] == 723
        assert body["job"]["progress"] == 1.0
        assert body["footprint"]["type"] == "Polygon"
        west, south, east, north = body["bounds"]
        assert -99.2 < west < east < -99.1 and 47.0 < south < north < 47.1
        assert "{z}/{x}/{y}.png" in body["tiles"]["url_template"]

    def test_image_list_costs_the_same_queries_for_many_images(self, cast, client_for, django_assert_max_num_queries):
        client = client_for(cast.viewer)
        Image.objects.bulk_create([Image(project=cast.project, name=f"{i}.tif") for i in range(3)])
        with django_assert_max_num_queries(12) as few:
            client.get(f"/api/v1/projects/{cast.project.pk}/images/")
        Image.objects.bulk_create([Image(project=cast.project, name=f"more{i}.tif") for i in range(60)])
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert client.get(f"/api/v1/projects/{cast.project.pk}/images/").json()["count"] == 63

    def test_nan_nodata_is_given_as_a_string(self, cast, client_for):
        image = Image.objects.create(project=cast.project, name="f.tif", nodata=float("nan"))
        assert client_for(cast.viewer).get(f"/api/v1/images/{image.pk}/").json()["nodata"] == "nan"


class TestScripts:
    def test_a_token_authenticates_api_calls(self, cast, client):
        response = client.post("/api/v1/auth/token/", {"username": "owner", "password": "owner-pw-123"})
        assert response.status_code == 200
        token = response.json()["token"]
        listed = client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {token}")
        assert listed.status_code == 200
        assert listed.json()["count"] == 1

    def test_session_writes_need_a_csrf_token(self, cast):
        from rest_framework.test import APIClient

        client = APIClient(enforce_csrf_checks=True)
        client.login(username="owner", password="owner-pw-123")
        response = client.patch(f"/api/v1/projects/{cast.project.pk}/", {"description": "x"}, format="json")
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]

    def test_openapi_schema_and_docs_are_served(self, cast, client_for):
        client = client_for(cast.viewer)
        schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert schema.status_code == 200
        assert "/api/v1/projects/{project_pk}/images/" in schema.json()["paths"]
        docs = client.get("/api/v1/docs/")
        assert docs.status_code == 200
        assert b"swagger" in docs.content.lower()
        assert b"cdn" not in docs.content.lower()
