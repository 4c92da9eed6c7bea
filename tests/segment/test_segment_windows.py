"""A click reads only the FeatureTile rows of the windows that can hold it, however large the image.

The image here is a row at the pixel limit (40,000 x 40,000 px: 3,612 windows on 7
levels) whose every window row points at one stored file of random features: the
decoder runs on real tensors, and the rows a click reads are counted at the database
cursor. The reference for "the windows that hold the click" is the full window plan,
filtered point by point.
"""

from __future__ import annotations

import pytest
import torch
from affine import Affine
from django.db import connection
from pyproj import CRS, Transformer

from annotator.choices import ImageStatus
from annotator.models import FeatureTile, Image
from annotator.sam2 import encode_jobs, encoding
from annotator.sam2.features import save_window_features
from annotator.sam2.windows import plan_windows
from tests.support.sam2 import tiny_model

pytestmark = [pytest.mark.sam2, pytest.mark.django_db]

SIDE = 40_000  # px: settings.MAX_IMAGE_PIXELS is 40,000 x 40,000
UTM_14N = CRS.from_epsg(32614)
GEOTRANSFORM = (500_000.0, 0.5, 0.0, 5_220_000.0, 0.0, -0.5)  # GDAL order, 0.5 m pixels


@pytest.fixture
def huge(cast):
    """An encoded 40,000 x 40,000 px image row: one FeatureTile per planned window, one shared features file."""
    tiny_model()
    image = Image.objects.create(
        project=cast.project,
        name="huge.tif",
        status=ImageStatus.ENCODED,
        width=SIDE,
        height=SIDE,
        band_count=3,
        crs_wkt=UTM_14N.to_wkt(),
        epsg=32614,
        geotransform=list(GEOTRANSFORM),
        band_mapping=[1, 2, 3],
        stretch=[[0.0, 255.0]] * 3,
    )
    key = encoding.current_cache_key(image)
    generator = torch.Generator().manual_seed(7)
    shapes = {"image_embed": (256, 64, 64), "high_res_feats_0": (32, 256, 256), "high_res_feats_1": (64, 128, 128)}
    tensors = {name: torch.randn(shape, generator=generator).half() for name, shape in shapes.items()}
    storage_key = f"{encode_jobs.features_prefix(image)}/{key}/shared.safetensors"
    size = save_window_features(storage_key, tensors)
    plan = encoding.image_windows(image)
    FeatureTile.objects.bulk_create(
        [
            FeatureTile(
                image=image,
                model_name=image.project.sam2_model,
                checkpoint_digest="random",
                cache_key=key,
                untrained=True,
                level=w.level,
                col_off=w.col_off,
                row_off=w.row_off,
                width=w.width,
                height=w.height,
                transform=list(w.transform.to_gdal()),
                storage_key=storage_key,
                size_bytes=size,
            )
            for w in plan
        ],
        batch_size=1000,
    )
    return image


def lonlat(col: float, row: float) -> list[float]:
    x, y = Affine.from_gdal(*GEOTRANSFORM) @ (col, row)
    return list(Transformer.from_crs(UTM_14N, "EPSG:4326", always_xy=True).transform(x, y))


class FeatureTileReads:
    """Counts the queries on the FeatureTile table and the rows they return (a database execute wrapper)."""

    def __init__(self):
        self.queries: list[tuple[str, int]] = []

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if '"annotator_featuretile"' in sql and sql.lstrip().upper().startswith("SELECT"):
            self.queries.append((sql, context["cursor"].rowcount))
        return result


@pytest.mark.parametrize(("col", "row"), [(20_000.25, 20_000.75), (100.5, 39_950.5), (30_710.0, 768.0)])
def test_a_click_on_a_huge_image_reads_only_the_rows_of_windows_that_hold_it(huge, cast, client_for, col, row):
    plan = plan_windows(SIDE, SIDE, Affine.from_gdal(*GEOTRANSFORM))
    assert FeatureTile.objects.filter(image=huge).count() == len(plan) == 3612
    holding = [
        w
        for w in plan
        if w.src_col_off - 1 <= col <= w.src_col_off + w.src_width + 1
        and w.src_row_off - 1 <= row <= w.src_row_off + w.src_height + 1
    ]
    reads = FeatureTileReads()
    with connection.execute_wrapper(reads):
        response = client_for(cast.annotator).post(
            f"/api/v1/images/{huge.pk}/segment", {"positive": [lonlat(col, row)]}, format="json"
        )
    assert response.status_code == 200, response.content
    assert len(reads.queries) == 1, reads.queries
    assert reads.queries[0][1] == len(holding) <= 4 * 7  # at most 2 x 2 windows on each of the 7 levels
    props = response.json()["properties"]
    assert props["levels_tried"][0] == 0  # the finest level first, then a coarser one if the mask was cut
    window = props["window"]
    assert (window["level"], window["row_off"], window["col_off"]) in {(w.level, w.row_off, w.col_off) for w in holding}
