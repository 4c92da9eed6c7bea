"""Every API error is JSON ``{"code", "detail"}`` with the status of its code; each code is
observed here through a real request (ours, DRF's and Django's own errors alike).

Pages outside ``/api/`` keep Django's HTML error pages.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import BaseThrottle

from annotator.errors import HTTP_STATUS, GeopromptError
from tests.support.workflow import CENTRE, square


@pytest.fixture
def make_annotation(image):
    """An annotation by ``user`` brought to ``state`` through the services (as in tests/workflow)."""
    from annotator.workflow import annotations, review

    def make(user, state: str = "draft", reviewer=None):
        annotation = annotations.create_annotation(image, user, square(*CENTRE))
        if state in ("submitted", "approved"):
            annotation = review.transition(annotation.pk, "submit", user)
        if state == "approved":
            annotation = review.transition(annotation.pk, "approve", reviewer)
        return annotation

    return make


def assert_error(response, status: int, code: str) -> dict:
    """The response is a JSON error body with ``code``, a readable ``detail`` and ``status``."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert HTTP_STATUS[code] == status
    return body


def test_every_error_class_has_a_code_in_the_table():
    def subclasses(kind):
        for sub in kind.__subclasses__():
            yield sub
            yield from subclasses(sub)

    codes = [kind.code for kind in subclasses(GeopromptError)]
    assert len(codes) == len(set(codes)), "two error classes share a code"
    assert set(codes) <= set(HTTP_STATUS)


class TestWorkflowConflicts:
    def test_a_stale_version_is_stale_version_with_the_current_one(self, cast, make_annotation, client_for):
        annotation = make_annotation(cast.annotator)
        client = client_for(cast.annotator)
        url = f"/api/v1/annotations/{annotation.pk}/"
        moved = {"geometry": square(*CENTRE, half=0.0007)}
        assert client.patch(url, moved, format="json", HTTP_IF_MATCH='"1"').status_code == 200
        response = client.patch(url, {"geometry": square(*CENTRE, half=0.0002)}, format="json", HTTP_IF_MATCH='"1"')
        body = assert_error(response, 409, "stale_version")
        assert body["current_version"] == 2
        assert "Reload it" in body["detail"]

    def test_a_stale_review_step_is_stale_version(self, cast, make_annotation, client_for):
        annotation = make_annotation(cast.annotator, state="submitted")
        response = client_for(cast.reviewer).post(
            f"/api/v1/annotations/{annotation.pk}/approve/", {"version": annotation.version - 1}, format="json"
        )
        assert_error(response, 409, "stale_version")

    def test_an_author_editing_a_submitted_annotation_is_locked_for_review(self, cast, make_annotation, client_for):
        annotation = make_annotation(cast.annotator, state="submitted")
        response = client_for(cast.annotator).patch(
            f"/api/v1/annotations/{annotation.pk}/", {"version": annotation.version, "attributes": {}}, format="json"
        )
        body = assert_error(response, 409, "locked_for_review")
        assert body["state"] == "submitted"

    def test_an_author_deleting_an_approved_annotation_is_locked_for_review(
        self,
        cast,
        make_annotation,
        client_for,
    ):
        annotation = make_annotation(cast.annotator, state="approved", reviewer=cast.reviewer)
        response = client_for(cast.annotator).delete(f"/api/v1/annotations/{annotation.pk}/")
        body = assert_error(response, 409, "locked_for_review")
        assert body["state"] == "approved"

    def test_a_step_from_the_wrong_state_is_invalid_transition(self, cast, make_annotation, client_for):
        annotation = make_annotation(cast.annotator)
        response = client_for(cast.reviewer).post(f"/api/v1/annotations/{annotation.pk}/approve/", {}, format="json")
        body = assert_error(response, 409, "invalid_transition")
        assert body["state"] == "draft"

    def test_removing_the_last_owner_is_a_plain_conflict(self, cast, client_for):
        from annotator.models import Membership

        mine = Membership.objects.get(project=cast.project, user=cast.owner)
        response = client_for(cast.owner).delete(f"/api/v1/projects/{cast.project.pk}/members/{mine.pk}/")
        assert_error(response, 409, "conflict")


class TestRequests:
    def test_a_serializer_validation_error_is_invalid_with_its_field_errors_kept(self, cast, client_for):
        response = client_for(cast.owner).post(
            f"/api/v1/projects/{cast.project.pk}/label-classes/", {"name": "pond", "colour": "blue"}, format="json"
        )
        body = assert_error(response, 400, "invalid")
        assert body["field"] == "colour"
        assert body["colour"] == ["Use a hex colour like #1f77b4."]
        assert body["detail"] == "colour: Use a hex colour like #1f77b4."

    def test_a_service_validation_error_is_invalid_naming_the_field(self, cast, make_annotation, client_for):
        annotation = make_annotation(cast.annotator)
        response = client_for(cast.annotator).patch(
            f"/api/v1/annotations/{annotation.pk}/", {"attributes": {}}, format="json"
        )
        body = assert_error(response, 400, "invalid")
        assert body["field"] == "version"

    def test_malformed_json_is_parse_error(self, cast, client_for, settings):
        settings.PROJECT_CREATORS = "any"  # a caller who may create projects, so that the body is read
        response = client_for(cast.owner).post("/api/v1/projects/", "{name", content_type="application/json")
        assert_error(response, 400, "parse_error")

    def test_a_body_of_an_unsupported_media_type_is_unsupported_media_type(self, cast, client_for, settings):
        settings.PROJECT_CREATORS = "any"
        response = client_for(cast.owner).post("/api/v1/projects/", "name=x", content_type="text/plain")
        assert_error(response, 415, "unsupported_media_type")

    def test_asking_for_a_format_the_api_does_not_speak_is_not_acceptable(self, cast, client_for):
        response = client_for(cast.owner).get("/api/v1/projects/", HTTP_ACCEPT="application/xml")
        assert_error(response, 406, "not_acceptable")

    def test_a_method_the_route_does_not_take_is_method_not_allowed(self, cast, make_annotation, client_for):
        annotation = make_annotation(cast.annotator)
        response = client_for(cast.annotator).put(f"/api/v1/annotations/{annotation.pk}/", {}, format="json")
        assert_error(response, 405, "method_not_allowed")

    def test_a_body_over_the_memory_limit_is_too_large(self, cast, client_for, settings):
        settings.PROJECT_CREATORS = "any"
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        body = json.dumps({"name": "x" * 5000})
        response = client_for(cast.owner).post("/api/v1/projects/", body, content_type="application/json")
        assert_error(response, 413, "too_large")

    def test_an_upload_over_the_upload_limit_is_too_large(self, cast, client_for, settings):
        from django.core.files.uploadedfile import SimpleUploadedFile

        settings.MAX_UPLOAD_BYTES = 100
        upload = SimpleUploadedFile("big.tif", b"\0" * 1000, content_type="image/tiff")
        response = client_for(cast.owner).post(
            f"/api/v1/projects/{cast.project.pk}/images/", {"file": upload}, format="multipart"
        )
        assert_error(response, 413, "too_large")

    def test_throttling_is_throttled_with_the_wait(self, cast, client_for, monkeypatch):
        from annotator.api.projects.views import ProjectViewSet

        class Refuse(BaseThrottle):
            def allow_request(self, request, view) -> bool:
                return False

            def wait(self) -> float:
                return 7

        monkeypatch.setattr(ProjectViewSet, "throttle_classes", [Refuse])
        response = client_for(cast.owner).get("/api/v1/projects/")
        body = assert_error(response, 429, "throttled")
        assert body["wait_s"] == 7
        assert response["Retry-After"] == "7"


class TestWhoAsks:
    def test_no_credentials_is_not_authenticated(self, client_for):
        response = client_for(None).get("/api/v1/projects/")
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token"

    def test_a_bad_token_is_authentication_failed(self, db):
        response = APIClient().get("/api/v1/projects/", HTTP_AUTHORIZATION="Token not-a-real-token")
        assert_error(response, 401, "authentication_failed")

    def test_a_role_too_low_for_the_route_is_forbidden(self, cast, image, client_for):
        response = client_for(cast.viewer).post(
            f"/api/v1/projects/{cast.project.pk}/annotations/",
            {"image": image.pk, "geometry": square(*CENTRE)},
            format="json",
        )
        assert_error(response, 403, "forbidden")

    def test_someone_elses_annotation_is_forbidden_to_an_annotator(self, cast, make_annotation, client_for):
        theirs = make_annotation(cast.reviewer)
        response = client_for(cast.annotator).patch(
            f"/api/v1/annotations/{theirs.pk}/", {"version": theirs.version, "attributes": {}}, format="json"
        )
        assert_error(response, 403, "forbidden")

    def test_an_object_out_of_reach_is_not_found(self, cast, make_annotation, client_for):
        annotation = make_annotation(cast.annotator)
        assert_error(client_for(cast.stranger).get(f"/api/v1/annotations/{annotation.pk}/"), 404, "not_found")
        assert_error(client_for(cast.owner).get("/api/v1/annotations/999999/"), 404, "not_found")


class TestDjangosOwnErrors:
    def test_an_api_path_with_no_route_is_not_found_in_json(self, cast, client_for):
        body = assert_error(client_for(cast.owner).get("/api/v1/no-such-thing/"), 404, "not_found")
        assert "/api/v1/no-such-thing/" in body["detail"]

    def test_a_page_with_no_route_keeps_the_html_page(self, cast, client_for):
        response = client_for(cast.owner).get("/no-such-page/")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")

    def test_a_request_django_refuses_is_bad_request_in_json_under_api(self, cast, client_for):
        response = client_for(cast.owner).get("/api/v1/projects/", HTTP_HOST="not-an-allowed-host.example")
        assert_error(response, 400, "bad_request")
        page = client_for(cast.owner).get("/login/", HTTP_HOST="not-an-allowed-host.example")
        assert page.status_code == 400
        assert page["Content-Type"].startswith("text/html")

    def test_a_page_body_over_the_memory_limit_keeps_the_html_400(self, client, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        response = client.post("/login/", {"username": "x" * 5000, "password": "y"})
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/html")

    def test_an_unexpected_error_is_server_error_in_json_under_api(self, cast, monkeypatch):
        from annotator.workflow import dashboard

        def broken(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr(dashboard, "project_dashboard", broken)
        client = APIClient(raise_request_exception=False)
        client.force_login(cast.owner)
        body = assert_error(client.get(f"/api/v1/projects/{cast.project.pk}/dashboard/"), 500, "server_error")
        assert "a bug" not in body["detail"]

    def test_an_unexpected_error_on_a_page_keeps_the_html_500(self, cast, monkeypatch):
        from django.test import Client

        from annotator import views

        def broken(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr(views, "render", broken)
        client = Client(raise_request_exception=False)
        client.force_login(cast.owner)
        response = client.get("/")
        assert response.status_code == 500
        assert response["Content-Type"].startswith("text/html")


@pytest.mark.sam2
def test_a_missing_sam2_checkpoint_is_checkpoint_missing_503(cast, ingested_image, client_for, settings, tmp_path):
    from affine import Affine
    from pyproj import Transformer

    from annotator.choices import ImageStatus
    from annotator.models import Image

    image = ingested_image("naip_rgbn_utm14_2020.tif")
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.ENCODED)
    settings.SAM2_CHECKPOINT_DIR = str(tmp_path / "no-checkpoints")
    settings.SAM2_ALLOW_UNTRAINED = False
    x, y = Affine.from_gdal(*image.geotransform) * (400.5, 300.5)
    lonlat = Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True).transform(x, y)
    response = client_for(cast.annotator).post(
        f"/api/v1/images/{image.pk}/segment", {"positive": [list(lonlat)]}, format="json"
    )
    body = assert_error(response, 503, "checkpoint_missing")
    assert "download_checkpoint" in body["detail"]
