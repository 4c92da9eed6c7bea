"""The tiler serves PNG tiles of Geoprompt COGs only, addressed by signed expiring tokens."""

from __future__ import annotations

import io
import json

import morecantile
import numpy as np
import pytest
from django.core import signing
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from annotator.choices import ImageStatus
from annotator.imagery import tiles
from annotator.models import Image
from annotator.sam2 import encode_jobs


@pytest.fixture
def tiler(transactional_db):
    """The tiler app in-process. It checks memberships from its own threads, which see only
    committed rows: hence a transactional database."""
    from backend.tiler import app

    return TestClient(app)


def _centre_tile(image, zoom: int = 15):
    west, south, east, north = image.footprint.extent
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, zoom)
    return tile.z, tile.x, tile.y


def _tile_path(token: str, z: int, x: int, y: int) -> str:
    return f"/images/{token}/tiles/WebMercatorQuad/{z}/{x}/{y}.png"


def test_a_valid_token_gets_a_png_tile_rendered_with_the_images_stretch(cast, ingested_image, tiler):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    response = tiler.get(_tile_path(tiles.issue_token(image, cast.owner), *_centre_tile(image)))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    rgba = np.asarray(PILImage.open(io.BytesIO(response.content)).convert("RGBA"))
    assert rgba.shape == (256, 256, 4)
    assert (rgba[..., 3] > 0).mean() > 0.9
    # By default the tile is rendered with the image's band mapping and stretch: the same
    # bytes as asking for them explicitly, and not the same as an unstretched tile.
    explicit = [("bidx", b) for b in image.band_mapping] + [("rescale", f"{lo},{hi}") for lo, hi in image.stretch]
    path = _tile_path(tiles.issue_token(image, cast.owner), *_centre_tile(image))
    assert tiler.get(path, params=explicit).content == response.content
    unstretched = [("bidx", b) for b in image.band_mapping] + [("rescale", "0,255")] * 3
    assert tiler.get(path, params=unstretched).content != response.content


def test_explicit_bands_override_the_default_mapping(cast, ingested_image, tiler):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    path = _tile_path(tiles.issue_token(image, cast.owner), *_centre_tile(image))
    default = tiler.get(path)
    nir = tiler.get(path, params=[("bidx", 4), ("bidx", 4), ("bidx", 4), ("rescale", "0,255")] * 1)
    assert nir.status_code == 200
    assert nir.content != default.content


def test_the_api_gives_a_tile_template_the_tiler_accepts(cast, ingested_image, client_for, tiler, settings):
    settings.TILER_URL = "http://tiles.example.test"
    image = ingested_image("hillshade_1band_3857.tif")
    detail = client_for(cast.viewer).get(f"/api/v1/images/{image.pk}/").json()
    template = detail["tiles"]["url_template"]
    assert template.startswith("http://tiles.example.test/images/")
    z, x, y = _centre_tile(image, 14)
    path = template.removeprefix("http://tiles.example.test").format(z=z, x=x, y=y)
    assert tiler.get(path).status_code == 200
    assert detail["bounds"] == pytest.approx(list(image.footprint.extent))


def test_an_image_whose_encode_has_not_finished_already_serves_tiles(cast, ingested_image, client_for, tiler, settings):
    # The map shows the image as soon as its COG exists: an annotator looks around while
    # the SAM2 features are still being made.
    settings.TILER_URL = "http://tiles.example.test"
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    job = encode_jobs.start_encode(image, cast.owner)
    job.mark_running()
    job.set_progress(0.1, "1/10 windows")
    # What the encoder does when it starts.
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.ENCODING)
    detail = client_for(cast.annotator).get(f"/api/v1/images/{image.pk}/").json()
    assert detail["status"] == ImageStatus.ENCODING
    assert (detail["job"]["kind"], detail["job"]["status"]) == ("encode", "running")
    path = (
        detail["tiles"]["url_template"]
        .removeprefix("http://tiles.example.test")
        .format(**dict(zip("zxy", _centre_tile(image), strict=True)))
    )
    response = tiler.get(path)
    assert response.status_code == 200, response.text
    rgba = np.asarray(PILImage.open(io.BytesIO(response.content)).convert("RGBA"))
    assert (rgba[..., 3] > 0).mean() > 0.9


def test_a_forged_token_is_refused(cast, ingested_image, tiler):
    image = ingested_image("hillshade_1band_3857.tif")
    forged = signing.dumps(
        {"i": image.pk, "k": image.cog_key, "b": [1, 1, 1], "r": [[0, 1]] * 3}, key="not-the-secret", salt=tiles.SALT
    )
    assert tiler.get(_tile_path(forged, *_centre_tile(image))).status_code == 403
    assert tiler.get(_tile_path("garbage", *_centre_tile(image))).status_code == 403


def test_an_expired_token_is_refused(cast, ingested_image, tiler, settings):
    image = ingested_image("hillshade_1band_3857.tif")
    token = tiles.issue_token(image, cast.owner)
    settings.TILE_TOKEN_MAX_AGE_S = 0
    response = tiler.get(_tile_path(token, *_centre_tile(image)))
    assert response.status_code == 403
    assert "expired" in response.text


def test_a_token_cannot_be_changed_to_name_another_projects_image(cast, ingested_image, tiler):
    mine = ingested_image("hillshade_1band_3857.tif")
    theirs = ingested_image("naip_rgbn_utm14_2020.tif", project=cast.other_project)
    token = tiles.issue_token(mine, cast.owner)
    # Swap the payload part for one naming the other project's COG; the signature no longer matches.
    payload, _, rest = token.partition(":")
    other = tiles.issue_token(theirs, cast.stranger).partition(":")[0]
    assert tiler.get(_tile_path(f"{other}:{rest}", *_centre_tile(theirs))).status_code == 403
    assert tiler.get(_tile_path(f"{payload}:{rest}", *_centre_tile(mine))).status_code == 200


def test_a_signed_token_naming_a_path_outside_geoprompt_images_is_refused(cast, tiler):
    for key in ["../../../etc/passwd", "/etc/passwd", "projects/1/images/2/original.tif", "https://example.com/x.tif"]:
        token = signing.dumps({"i": 1, "k": key, "b": [1, 1, 1], "r": [[0, 1]] * 3}, salt=tiles.SALT, compress=True)
        assert tiler.get(_tile_path(token, 1, 0, 0)).status_code == 403, key


def test_a_deleted_images_token_gets_404(cast, ingested_image, tiler, client_for, django_capture_on_commit_callbacks):
    image = ingested_image("hillshade_1band_3857.tif")
    token = tiles.issue_token(image, cast.owner)
    # The files go once the deletion commits.
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(cast.owner).delete(f"/api/v1/images/{image.pk}/").status_code == 204
    assert tiler.get(_tile_path(token, *_centre_tile(image))).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/cog/tiles/WebMercatorQuad/1/0/0.png?url=/etc/passwd",
        "/cog/tiles/WebMercatorQuad/1/0/0.png?url=https://example.com/a.tif",
        "/images/TOKEN/tiles/WebMercatorQuad/1/0/0.png?url=file:///etc/passwd",
        "/images/TOKEN/info?url=/etc/passwd",
        "/images/..%2F..%2Fetc%2Fpasswd/info",
        "/mosaicjson/tiles/1/0/0.png?url=/etc/passwd",
        "/map.html?url=/etc/passwd",
    ],
)
def test_no_request_can_name_a_file_or_url(cast, ingested_image, tiler, path):
    image = ingested_image("hillshade_1band_3857.tif")
    response = tiler.get(path.replace("TOKEN", tiles.issue_token(image, cast.owner)))
    assert response.status_code in (403, 404)
    assert b"root:" not in response.content


def test_a_removed_members_token_stops_working_within_the_recheck_delay(cast, ingested_image, tiler, client_for):
    from annotator.models import Membership

    image = ingested_image("hillshade_1band_3857.tif")
    template = client_for(cast.annotator).get(f"/api/v1/images/{image.pk}/").json()["tiles"]["url_template"]
    path = "/images/" + template.split("/images/", 1)[1].format(**dict(zip("zxy", _centre_tile(image), strict=True)))
    assert tiler.get(path).status_code == 200
    membership = Membership.objects.get(project=cast.project, user=cast.annotator)
    assert (
        client_for(cast.owner).delete(f"/api/v1/projects/{cast.project.pk}/members/{membership.pk}/").status_code == 204
    )
    tiles._access_cache.clear()  # the state ACCESS_RECHECK_S seconds later, without sleeping
    response = tiler.get(path)
    assert response.status_code == 403
    assert "no longer a member" in response.text
    # The owner's own token still works.
    assert tiler.get(_tile_path(tiles.issue_token(image, cast.owner), *_centre_tile(image))).status_code == 200


def test_a_token_issued_to_one_member_is_refused_after_they_leave_even_if_unexpired(cast, ingested_image, tiler):
    from annotator.models import Membership

    image = ingested_image("hillshade_1band_3857.tif")
    token = tiles.issue_token(image, cast.viewer)
    Membership.objects.filter(project=cast.project, user=cast.viewer).delete()
    tiles._access_cache.clear()
    assert tiler.get(_tile_path(token, *_centre_tile(image))).status_code == 403


# --- bounded outputs ---------------------------------------------------------------------


def _refusal(response) -> str:
    """The JSON ``detail`` of a 400 answer."""
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["detail"]


@pytest.mark.parametrize(
    "request_path",
    [
        "preview.png?width=8000&height=8000",
        "preview/8000x8000.png",
        "preview.png?max_size=8000",
        "preview.png?width=2049",
        "statistics?max_size=4096",
        "statistics?height=3000",
        "tiles/WebMercatorQuad/15/0/0.png?tilesize=4096",
        "WebMercatorQuad/tilejson.json?tilesize=4096",
    ],
)
def test_an_output_size_above_the_limit_is_refused_with_a_json_400(cast, ingested_image, tiler, request_path):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    response = tiler.get(f"/images/{tiles.issue_token(image, cast.owner)}/{request_path}")
    assert "at most 2048 pixels on a side" in _refusal(response)


def test_a_size_derived_from_the_images_shape_is_bounded_too(cast, ingested_image, tiler, settings):
    # NAIP is 934 x 723 px: asking only for a height of 250 px gives a width of 323 px.
    settings.TILER_MAX_SIZE = 300
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    path = f"/images/{tiles.issue_token(image, cast.owner)}/preview.png"
    assert "would be 323 x 250 pixels" in _refusal(tiler.get(path, params={"height": 250}))
    allowed = tiler.get(path, params={"height": 200})
    assert allowed.status_code == 200, allowed.text
    assert PILImage.open(io.BytesIO(allowed.content)).size == (259, 200)
    # Without sizes, the default preview (max_size 1024) shrinks to the limit instead of failing.
    default = tiler.get(path)
    assert default.status_code == 200, default.text
    assert max(PILImage.open(io.BytesIO(default.content)).size) == 300


def test_previews_and_statistics_within_the_limit_are_served(cast, ingested_image, tiler):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    base = f"/images/{tiles.issue_token(image, cast.owner)}"
    preview = tiler.get(f"{base}/preview/512x256.png")
    assert preview.status_code == 200, preview.text
    assert PILImage.open(io.BytesIO(preview.content)).size == (512, 256)
    statistics = tiler.get(f"{base}/statistics", params={"max_size": 2048})
    assert statistics.status_code == 200, statistics.text
    assert set(statistics.json()) == {"b1", "b2", "b3"}  # the image's band mapping (RGB of RGBN)


def test_feature_statistics_read_a_large_area_at_most_at_the_limit(cast, ingested_image, tiler, settings):
    settings.TILER_MAX_SIZE = 256
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    feature = {"type": "Feature", "properties": {}, "geometry": json.loads(image.footprint.geojson)}
    path = f"/images/{tiles.issue_token(image, cast.owner)}/statistics"
    response = tiler.post(path, json=feature)
    assert response.status_code == 200, response.text
    # 934 x 723 px of image read onto at most 256 px on a side.
    assert response.json()["properties"]["statistics"]["b1"]["count"] <= 256 * 256
    assert "on a side" in _refusal(tiler.post(path, params={"width": 300}, json=feature))


@pytest.mark.parametrize(
    ("request_path", "params"),
    [
        ("preview.png", [("bidx", 99)]),
        ("preview.png", [("bidx", 1), ("bidx", 0), ("bidx", 2)]),
        ("statistics", [("bidx", 5)]),
        ("tiles/WebMercatorQuad/{z}/{x}/{y}.png", [("bidx", 99)]),
    ],
)
def test_a_band_the_image_does_not_have_is_a_400_not_a_500(cast, ingested_image, tiler, request_path, params):
    image = ingested_image("naip_rgbn_utm14_2020.tif")  # bands 1 to 4
    z, x, y = _centre_tile(image)
    path = f"/images/{tiles.issue_token(image, cast.owner)}/{request_path.format(z=z, x=x, y=y)}"
    assert "this image has bands 1 to 4" in _refusal(tiler.get(path, params=params))


def test_a_point_query_for_a_missing_band_is_a_400(cast, ingested_image, tiler):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    centre = image.footprint.centroid
    path = f"/images/{tiles.issue_token(image, cast.owner)}/point/{centre.x},{centre.y}"
    assert tiler.get(path).status_code == 200
    assert "does not exist" in _refusal(tiler.get(path, params={"bidx": 7}))
