"""Per-band statistics of ingest, read in bounded windows: checked against a full read with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from annotator.imagery import ingest
from tests.support.rasters import data_file

RASTERS = [
    "naip_rgbn_utm14_2020.tif",
    "landsat_rgb_utm18.tif",
    "landsat_4band_4326.tif",
    "hillshade_1band_3857.tif",
    "rgba_uint16_utm12.tif",
]


def _valid_values(src) -> list[np.ndarray]:
    """Every valid pixel of each band (GDAL's masks: nodata, alpha; NaN), read whole."""
    data, masks = src.read(), src.read_masks() > 0
    if np.issubdtype(data.dtype, np.floating):
        masks &= np.isfinite(data)
    return [band[mask] for band, mask in zip(data, masks, strict=True)]


@pytest.mark.parametrize("name", RASTERS)
def test_a_budget_that_covers_the_image_gives_the_statistics_of_every_pixel(name):
    with rasterio.open(data_file(name)) as src:
        stats = ingest.compute_band_stats(src, src.width * src.height)
        full = _valid_values(src)
        pixels = src.width * src.height
    for s, values in zip(stats, full, strict=True):
        p2, p98 = np.percentile(values, [2, 98])
        assert (s.p2, s.p98, s.minimum, s.maximum) == (p2, p98, values.min(), values.max())
        assert s.valid_fraction == values.size / pixels


@pytest.mark.parametrize("name", RASTERS)
def test_decimated_statistics_stay_within_one_percentile_of_the_full_read(name):
    # A sixteenth of the pixels (every 4th column of every 4th row). The stated tolerance:
    # p2 lies between the full read's p1 and p3, p98 between its p97 and p99, min and max
    # within the full range, the valid share within 2 points.
    with rasterio.open(data_file(name)) as src:
        stats = ingest.compute_band_stats(src, src.width * src.height // 16)
        full = _valid_values(src)
        pixels = src.width * src.height
    for s, values in zip(stats, full, strict=True):
        p1, p3, p97, p99 = np.percentile(values, [1, 3, 97, 99])
        assert p1 <= s.p2 <= p3
        assert p97 <= s.p98 <= p99
        assert values.min() <= s.minimum <= s.maximum <= values.max()
        assert s.valid_fraction == pytest.approx(values.size / pixels, abs=0.02)


def test_samples_read_window_by_window_and_band_group_by_group_are_every_nth_pixel(tmp_path, monkeypatch):
    # Windows and band groups far smaller than the image: the samples must still be exactly
    # the centre pixel of each 3 x 3 cell, NaN and nodata masked.
    rng = np.random.default_rng(7)
    data = rng.normal(100, 30, (3, 700, 900)).astype("float32")
    data[:, 50:120, 600:] = -9999
    data[1, 300, :] = np.nan
    profile = {
        "driver": "GTiff",
        "width": 900,
        "height": 700,
        "count": 3,
        "dtype": "float32",
        "nodata": -9999,
        "tiled": True,
        "blockxsize": 128,
        "blockysize": 128,
        "crs": "EPSG:32614",
        "transform": rasterio.transform.from_origin(500000, 5200000, 5, 5),
    }
    path = tmp_path / "tiled.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    monkeypatch.setattr(ingest, "STATS_CHUNK_BYTES", 128 * 128 * 5)
    monkeypatch.setattr(ingest, "STATS_SAMPLE_BYTES", 1)
    with rasterio.open(path) as src:
        assert len(ingest._stats_chunks(src, 1)) > 30
        stats = ingest.compute_band_stats(src, 700 * 900 // 9)
    sampled = data[:, 1::3, 1::3]
    for band, s in enumerate(stats):
        values = sampled[band][(sampled[band] != -9999) & np.isfinite(sampled[band])]
        p2, p98 = np.percentile(values, [2, 98])
        assert (s.p2, s.p98, s.minimum, s.maximum) == (p2, p98, values.min(), values.max())
        assert s.valid_fraction == values.size / sampled[band].size
