"""POST /api/v1/images/{id}/segment: who may call it, and what a bad request gets."""

from __future__ import annotations

import pytest
from affine import Affine
from pyproj import Transformer

from annotator.choices import EncodePriority, ImageStatus, JobStatus
from annotator.models import EncodeRequest
from annotator.sam2 import encode_jobs
from tests.support.sam2 import encode_cached

pytestmark = [pytest.mark.sam2, pytest.mark.django_db]


def lonlat(image, col: float, row: float) -> list[float]:
    x, y = Affine.from_gdal(*image.geotransform) @ (col, row)
    return list(Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True).transform(x, y))


@pytest.fixture
def image(ingested_image):
    return encode_cached(ingested_image("naip_rgbn_utm14_2020.tif"))


def post(client, image_id, body):
    return client.post(f"/api/v1/images/{image_id}/segment", body, format="json")


def test_annotators_reviewers_and_owners_may_segment(image, cast, client_for):
    body = {"positive": [lonlat(image, 400.5, 300.5)]}
    for user in (cast.annotator, cast.reviewer, cast.owner):
        response = post(client_for(user), image.pk, body)
        assert response.status_code == 200, (user, response.content)


def test_viewers_may_not_segment(image, cast, client_for):
    response = post(client_for(cast.viewer), image.pk, {"positive": [lonlat(image, 400.5, 300.5)]})
    assert response.status_code == 403


def test_non_members_and_anonymous_callers_see_nothing(image, cast, client_for):
    body = {"positive": [lonlat(image, 400.5, 300.5)]}
    assert post(client_for(cast.stranger), image.pk, body).status_code == 404
    assert post(client_for(None), image.pk, body).status_code in (401, 403)
    assert post(client_for(cast.owner), 999_999, body).status_code == 404


def test_a_click_on_windows_still_to_encode_asks_for_them_and_gives_409_encoding_area_with_the_jobs_state(
    ingested_image, cast, client_for, settings
):
    settings.SAM2_ON_DEMAND_WAIT_S = 0  # no worker here: answer at once
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    job = encode_jobs.start_encode(image, cast.owner)
    job.mark_running()
    job.set_progress(0.4, "2/5 windows")
    for user in (cast.annotator, cast.reviewer):
        response = post(client_for(user), image.pk, {"positive": [lonlat(image, 400.5, 300.5)]})
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "encoding_area" and body["retry_after_s"] > 0
        assert body["image_status"] == ImageStatus.READY
        assert body["job"] == {"id": job.pk, "status": JobStatus.RUNNING, "progress": 0.4, "message": "2/5 windows"}
        assert body["windows"] == [{"level": 0, "row_off": 0, "col_off": 0, "stored": False}]  # one window image
    # Two clicks, one request row at the click priority; the running job serves it (no new job).
    requests = EncodeRequest.objects.filter(image=image).values_list("level", "row_off", "col_off", "priority")
    assert list(requests) == [(0, 0, 0, EncodePriority.CLICK)]
    assert encode_jobs.active_encode_jobs(image).get() == job


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "positive"),
        ({"positive": "here"}, "positive"),
        ({"positive": [[1.0, 2.0, 3.0]]}, "positive"),
        ({"positive": [["a", "b"]]}, "positive"),
        ({"positive": [[-99.0, 47.0]], "negative": [[1.0]]}, "negative"),
        ({"box": [1.0, 2.0, 3.0]}, "box"),
        ({"positive": [[-99.0, 47.0]], "simplify_px": -1}, "simplify_px"),
        ({"positive": [[-99.0, 47.0]], "return_all": "maybe"}, "return_all"),
    ],
)
def test_malformed_bodies_get_400_naming_the_field(image, cast, client_for, body, field):
    response = post(client_for(cast.annotator), image.pk, body)
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_prompts_outside_the_image_get_400_with_a_message(image, cast, client_for):
    response = post(client_for(cast.annotator), image.pk, {"positive": [lonlat(image, 2000, 300)]})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "positive" and "outside the image" in body["detail"]
    response = post(
        client_for(cast.annotator),
        image.pk,
        {"positive": [lonlat(image, 400, 300)], "negative": [lonlat(image, -5, 300)]},
    )
    assert response.status_code == 400 and response.json()["field"] == "negative"


def test_an_unknown_crs_or_session_id_gets_400(image, cast, client_for):
    client = client_for(cast.annotator)
    response = post(client, image.pk, {"positive": [[1.0, 2.0]], "crs": "EPSG:999999"})
    assert response.status_code == 400 and response.json()["field"] == "crs"
    response = post(client, image.pk, {"positive": [lonlat(image, 400, 300)], "session_id": "../../etc"})
    assert response.status_code == 400 and response.json()["field"] == "session_id"


def test_nothing_is_saved(image, cast, client_for):
    from annotator.models import Annotation

    before = Annotation.objects.count()
    assert post(client_for(cast.annotator), image.pk, {"positive": [lonlat(image, 400.5, 300.5)]}).status_code == 200
    assert Annotation.objects.count() == before
