"""Encoding a chosen subset of an image's windows (e.g. the windows holding given points)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from annotator.choices import ImageStatus
from annotator.imagery import ingest as imagery
from annotator.models import FeatureTile, Image
from annotator.sam2 import encoding, features
from annotator.sam2.windows import windows_holding
from annotator.storage import get_storage
from tests.support.sam2 import resampled_raster, tiny_model

pytestmark = [pytest.mark.sam2, pytest.mark.django_db]


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


@pytest.fixture
def three_window_image(cast, tmp_path):
    """A 1,100 x 800 px image: two overlapping windows at level 0 and one at level 1."""
    path = resampled_raster(tmp_path / "wide.tif", 1100, 800)
    image = Image.objects.create(project=cast.project, name="wide.tif", uploaded_by=cast.owner)
    image.original_key = f"{image.storage_prefix}/original.tif"
    get_storage().put_file(path, image.original_key)
    image.save()
    return imagery.ingest_image(image)


def stored_windows(image: Image) -> set[tuple[int, int, int]]:
    return set(FeatureTile.objects.filter(image=image).values_list("level", "row_off", "col_off"))


def test_encoding_a_subset_stores_exactly_those_windows_and_encode_image_gives_the_same_features(
    three_window_image, tiny
):
    image = three_window_image
    plan = encoding.image_windows(image)
    assert [(w.level, w.row_off, w.col_off) for w in plan] == [(0, 0, 0), (0, 0, 76), (1, 0, 0)]

    # The level-0 window holding a point near the right edge (only the second one does).
    holding = windows_holding(image.width, image.height, encoding.image_affine(image), (1050, 400, 1050, 400))
    subset = [w for w in holding if w.level == 0]
    assert [(w.level, w.row_off, w.col_off) for w in subset] == [(0, 0, 76)]
    partial = encoding.encode_windows(image, subset)
    image.refresh_from_db()
    assert (partial.windows, partial.encoded, partial.skipped) == (3, 1, 0)
    assert stored_windows(image) == {(0, 0, 76)}
    # Not every window is stored: the image is not "encoded", and no longer "encoding".
    assert image.status == ImageStatus.READY
    tile = FeatureTile.objects.get(image=image)
    assert get_storage().list_keys(f"{encoding.features_prefix(image)}") == [tile.storage_key]
    from_subset = features.load_window_tensors(tile.storage_key)

    # The whole-image run resumes: the subset's window is skipped, the other two are encoded.
    whole = encoding.encode_image(image)
    image.refresh_from_db()
    assert (whole.encoded, whole.skipped) == (2, 1)
    assert stored_windows(image) == {(0, 0, 0), (0, 0, 76), (1, 0, 0)}
    assert image.status == ImageStatus.ENCODED

    # encode_image encoding that window itself gives the same features as the subset did.
    tile.delete()
    again = encoding.encode_image(image)
    assert (again.encoded, again.skipped) == (1, 2)
    redone = features.load_window_tensors(FeatureTile.objects.get(image=image, col_off=76).storage_key)
    for name in features.FEATURE_NAMES:
        torch.testing.assert_close(redone[name], from_subset[name], rtol=1e-3, atol=1e-3)


def test_a_window_that_is_not_in_the_plan_is_refused(three_window_image, tiny):
    image = three_window_image
    shifted = dataclasses.replace(encoding.image_windows(image)[0], col_off=5)
    with pytest.raises(ValueError, match="not in the image's plan"):
        encoding.encode_windows(image, [shifted])
    assert stored_windows(image) == set()
