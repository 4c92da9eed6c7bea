"""The tiler serves PNG tiles of Geoprompt COGs only, addressed by signed expiring tokens."""

from __future__ import annotations

import io

import morecantile
import numpy as np
import pytest
from django.core import signing
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from annotator.imagery import tiles


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
