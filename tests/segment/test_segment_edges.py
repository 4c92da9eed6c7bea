"""Segment at the edges of the world and of the image: the antimeridian, one-pixel images,
and prompt sessions that never pile up."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import from_origin
from shapely.geometry import shape

from annotator.segment import service
from tests.support.sam2 import encode_cached, ingest_file, synthetic_raster

pytestmark = [pytest.mark.sam2, pytest.mark.django_db]


def post(client, image_id, body):
    return client.post(f"/api/v1/images/{image_id}/segment", body, format="json")


@pytest.fixture
def fiji(cast, tmp_path):
    """A UTM 60S raster from about 179.6° E to 179.4° W: a bright square across the antimeridian."""
    pixels = np.full((3, 100, 200), 40, dtype=np.uint8)
    pixels[:, 30:70, 90:150] = 220
    path = synthetic_raster(tmp_path / "fiji.tif", pixels, "EPSG:32760", from_origin(780_000, 8_230_000, 500, 500))
    return encode_cached(ingest_file(cast.project, cast.owner, path))


def test_a_prompt_across_the_antimeridian_is_taken_in_either_longitude_convention(fiji, cast, client_for):
    client = client_for(cast.annotator)
    west, south, east, north = fiji.footprint.extent
    assert west < -180.0 or east > 180.0  # the image's own frame runs on past ±180
    middle, lat = (west + east) / 2, (south + north) / 2
    answers = []
    for lon in (middle, middle + 360.0 if middle < 0 else middle - 360.0):
        response = post(client, fiji.pk, {"positive": [[lon, lat]], "min_area_px": 1})
        assert response.status_code == 200, response.content
        answers.append(response.json())
    # The same click both ways: the same window, score and outline.
    assert answers[0]["properties"]["window"] == answers[1]["properties"]["window"]
    assert answers[0]["properties"]["score"] == pytest.approx(answers[1]["properties"]["score"])
    assert answers[0]["geometry"] == answers[1]["geometry"]
    for answer in answers:
        if answer["geometry"] is not None:
            outline = shape(answer["geometry"])
            assert outline.is_valid
            assert outline.bounds[0] >= -180.0
            assert outline.bounds[2] <= 180.0


def test_a_prompt_far_from_the_image_is_still_refused(fiji, cast, client_for):
    response = post(client_for(cast.annotator), fiji.pk, {"positive": [[10.0, -16.0]]})
    assert response.status_code == 400
    assert response.json()["field"] == "positive"


def test_a_one_pixel_image_answers_that_nothing_was_found(cast, client_for, tmp_path):
    path = synthetic_raster(
        tmp_path / "dot.tif",
        np.full((3, 1, 1), 200, dtype=np.uint8),
        "EPSG:32614",
        from_origin(500_000, 5_200_000, 5, 5),
    )
    image = encode_cached(ingest_file(cast.project, cast.owner, path))
    west, south, east, north = image.footprint.extent
    response = post(client_for(cast.annotator), image.pk, {"positive": [[(west + east) / 2, (south + north) / 2]]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["geometry"] is None
    assert body["properties"]["found"] is False
    assert "found nothing" in body["properties"]["message"]


def test_prompt_session_locks_do_not_grow_with_the_number_of_sessions():
    locks = {id(service._session_lock(f"session-{i}")) for i in range(5000)}
    assert len(locks) <= len(service._SESSION_LOCKS)
    assert service._session_lock("same") is service._session_lock("same")


def test_a_click_while_redis_is_down_still_gets_its_outline_without_refinement(cast, client_for, tmp_path, settings):
    from tests.support.broker import RedisServer

    pixels = np.full((3, 120, 160), 40, dtype=np.uint8)
    pixels[:, 40:80, 50:110] = 220
    path = synthetic_raster(tmp_path / "field.tif", pixels, "EPSG:32614", from_origin(500_000, 5_200_000, 5, 5))
    image = encode_cached(ingest_file(cast.project, cast.owner, path))
    west, south, east, north = image.footprint.extent
    click = {"positive": [[(west + east) / 2, (south + north) / 2]], "min_area_px": 1}
    redis_server = RedisServer(tmp_path / "redis.log")
    redis_server.start()
    settings.REDIS_URL = redis_server.url  # prompt sessions live there
    client = client_for(cast.annotator)
    first = post(client, image.pk, click).json()["properties"]
    assert first["session_saved"] is True
    redis_server.stop()
    again = post(client, image.pk, {**click, "session_id": first["session_id"]})
    assert again.status_code == 200, again.content
    assert again.json()["properties"]["session_saved"] is False
    assert again.json()["properties"]["used_previous_mask"] is False
