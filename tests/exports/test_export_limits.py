"""Exports are bounded before they are queued: who may start one, chip overlap, chip count."""

from __future__ import annotations

import pytest

from annotator.models import Export, Job
from tests.support.exports import NAIP, approved, blob

EXPORTS = "/api/v1/projects/{pk}/exports/"
CHIP_FORMATS = ["coco", "yolo", "masks", "stac"]


@pytest.fixture
def scene(cast, ingested_image):
    """NAIP (934 x 723 px) with two approved objects."""
    image = ingested_image(NAIP)
    for k, (cx, cy) in enumerate([(100, 100), (500, 400)]):
        approved(image, cast, blob(cx, cy, 50, seed=k))
    return image


def _post(client, cast, formats, options=None):
    body = {"formats": formats} | ({"options": options} if options is not None else {})
    return client.post(EXPORTS.format(pk=cast.project.pk), body, format="json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "status"), [("viewer", 403), ("annotator", 403), ("reviewer", 202), ("owner", 202)]
)
def test_only_reviewers_and_owners_start_an_export(cast, client_for, persona, status):
    response = _post(client_for(getattr(cast, persona)), cast, ["geojson"])
    assert response.status_code == status, response.content
    if status == 403:
        assert response.json() == {
            "code": "forbidden",
            "detail": "Only the project's reviewers and owners can start an export.",
        }
        assert not Export.objects.exists() and not Job.objects.exists()


@pytest.mark.django_db
def test_a_viewer_is_refused_before_their_request_is_even_read(cast, client_for):
    response = _post(client_for(cast.viewer), cast, ["tfrecord"], {"chip_size": 32, "chip_overlap": 31})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


@pytest.mark.django_db
def test_viewers_and_annotators_still_list_the_projects_exports(cast, client_for, scene):
    assert _post(client_for(cast.owner), cast, ["geojson"]).status_code == 202
    for persona in (cast.viewer, cast.annotator):
        listed = client_for(persona).get(EXPORTS.format(pk=cast.project.pk)).json()
        assert len(listed["results"]) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("size", "overlap", "limit"), [(32, 31, 16), (33, 17, 16), (1024, 513, 512)])
def test_an_overlap_past_half_the_chip_size_is_refused_with_the_limit(cast, client_for, size, overlap, limit):
    response = _post(client_for(cast.owner), cast, ["coco"], {"chip_size": size, "chip_overlap": overlap})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == "chip_overlap" and body["limit"] == limit
    assert f"from 0 to {limit} (at most half the chip size of {size} px)" in body["detail"]
    assert not Export.objects.exists()


@pytest.mark.django_db
def test_an_overlap_of_exactly_half_the_chip_size_is_accepted(cast, client_for, scene):
    response = _post(client_for(cast.owner), cast, ["coco"], {"chip_size": 32, "chip_overlap": 16})
    assert response.status_code == 202, response.content


@pytest.mark.django_db
def test_an_export_over_the_chip_limit_is_refused_before_it_is_queued(cast, client_for, scene, settings):
    # NAIP at 32 px with 16 px overlap: chip columns 0, 16, ..., 896 and 902 (58), rows 0, ..., 688 and 691 (45).
    settings.EXPORT_MAX_CHIPS = 2_000
    response = _post(client_for(cast.owner), cast, CHIP_FORMATS, {"chip_size": 32, "chip_overlap": 16})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and body["field"] == "chip_size"
    assert body["chips"] == 58 * 45 == 2_610 and body["limit"] == 2_000
    assert "would cut 2,610 chips of 32 px (overlap 16 px) from 1 image(s); the limit is 2,000" in body["detail"]
    assert not Export.objects.exists() and not Job.objects.exists()
    # At the limit it is accepted.
    settings.EXPORT_MAX_CHIPS = 2_610
    assert _post(client_for(cast.owner), cast, CHIP_FORMATS, {"chip_size": 32, "chip_overlap": 16}).status_code == 202


@pytest.mark.django_db
def test_the_default_limit_refuses_the_small_chips_of_a_large_image(cast, client_for, scene):
    from annotator.models import Image

    # 8,000 x 7,000 px at 64 px with 32 px overlap: 249 x 218 = 54,282 chips, past the default 20,000.
    Image.objects.filter(pk=scene.pk).update(width=8_000, height=7_000)
    response = _post(client_for(cast.owner), cast, ["yolo"], {"chip_size": 64, "chip_overlap": 32})
    assert response.status_code == 400, response.content
    assert response.json()["chips"] == 54_282 and response.json()["limit"] == 20_000
    # GIS formats cut no chips, so the chip options do not bound them.
    assert _post(client_for(cast.owner), cast, ["gpkg"], {"chip_size": 64, "chip_overlap": 32}).status_code == 202


@pytest.mark.django_db
def test_only_the_images_the_filters_select_count_towards_the_limit(cast, client_for, scene, ingested_image, settings):
    other = ingested_image("hillshade_1band_3857.tif")
    approved(other, cast, blob(50, 50, 20, seed=9))
    settings.EXPORT_MAX_CHIPS = 2_610  # NAIP alone at 32/16 px
    options = {"chip_size": 32, "chip_overlap": 16}
    assert _post(client_for(cast.owner), cast, ["coco"], options).status_code == 400
    response = client_for(cast.owner).post(
        EXPORTS.format(pk=cast.project.pk),
        {"formats": ["coco"], "options": options, "filters": {"images": [scene.pk]}},
        format="json",
    )
    assert response.status_code == 202, response.content
