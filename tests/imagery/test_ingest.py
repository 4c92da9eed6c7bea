"""Ingest of uploaded rasters: validation, statistics, band mapping, COG and footprint."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.warp import transform_bounds
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import Point, shape

from annotator.choices import ImageStatus
from annotator.errors import InvalidRaster
from annotator.imagery import ingest as imagery
from annotator.models import Image
from annotator.storage import get_storage
from tests.support.rasters import data_file

GEOREFERENCED = [
    "naip_rgbn_utm14_2020.tif",
    "naip_rgbn_utm14_2009.tif",
    "landsat_rgb_utm18.tif",
    "landsat_4band_4326.tif",
    "hillshade_1band_3857.tif",
    "rgba_uint16_utm12.tif",
]


def _upload_bytes(project, name: str, payload: bytes) -> Image:
    image = Image.objects.create(project=project, name=name)
    image.original_key = f"{image.storage_prefix}/original.tif"
    get_storage().put_bytes(payload, image.original_key)
    image.save()
    return image


@pytest.mark.parametrize("name", GEOREFERENCED)
def test_it_ingests_every_georeferenced_reference_raster(cast, ingested_image, name):
    image = ingested_image(name)
    storage = get_storage()
    with rasterio.open(data_file(name)) as src:
        expected_bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
        assert (image.width, image.height, image.band_count) == (src.width, src.height, src.count)
        assert image.dtype == src.dtypes[0]
        assert image.epsg == src.crs.to_epsg()
        assert image.geotransform == pytest.approx(list(src.transform.to_gdal()))
    assert image.status == ImageStatus.READY
    # The footprint is the image outline in EPSG:4326: its corners are the image corners
    # reprojected independently, and its envelope is the densified reprojected bounds.
    footprint = shape({"type": "Polygon", "coordinates": image.footprint.coords})
    assert footprint.is_valid
    assert footprint.bounds == pytest.approx(expected_bounds, abs=1e-6)
    with rasterio.open(data_file(name)) as src:
        to_4326 = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
        for col, row in [(0, 0), (src.width, 0), (src.width, src.height), (0, src.height)]:
            corner = Point(to_4326.transform(*(src.transform @ (col, row))))
            assert footprint.exterior.distance(corner) < 1e-9
    assert image.footprint.srid == 4326
    # The COG is valid, has overviews when it is big enough, and keeps the source pixels.
    with storage.local_copy(image.cog_key) as cog_path:
        valid, errors, _warnings = cog_validate(cog_path, quiet=True)
        assert valid, errors
        with rasterio.open(cog_path) as cog, rasterio.open(data_file(name)) as src:
            assert cog.profile["compress"].lower() == "deflate"
            assert cog.profile["tiled"]
            valid = src.read_masks(1) > 0
            assert np.array_equal(cog.read(1)[valid], src.read(1)[valid])
    assert len(image.band_mapping) == 3
    assert len(image.stretch) == 3 and all(high > low for low, high in image.stretch)


def test_stats_ignore_nodata_pixels(cast, ingested_image):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    with rasterio.open(data_file("naip_rgbn_utm14_2020.tif")) as src:
        band = src.read(1)
        valid = band[band != src.nodata]
    p2, p98 = np.percentile(valid, [2, 98])
    stats = image.band_stats[0]
    assert stats["p2"] == pytest.approx(p2)
    assert stats["p98"] == pytest.approx(p98)
    assert stats["min"] == valid.min() and stats["min"] > 0
    assert image.stretch[0] == [pytest.approx(p2), pytest.approx(p98)]


def test_alpha_band_is_masked_and_rgb_taken_from_colour_interpretation(cast, ingested_image):
    # Bands are stored B, G, R, alpha: the default mapping must show R, G, B.
    image = ingested_image("rgba_uint16_utm12.tif")
    assert image.band_mapping == [3, 2, 1]
    with rasterio.open(data_file("rgba_uint16_utm12.tif")) as src:
        alpha = src.read(4)
    assert image.band_stats[0]["valid_fraction"] == pytest.approx((alpha > 0).mean(), abs=1e-6)


def test_single_band_image_is_shown_as_grey(cast, ingested_image):
    image = ingested_image("hillshade_1band_3857.tif")
    assert image.band_mapping == [1, 1, 1]
    assert image.nodata == 255


@pytest.mark.parametrize(
    ("mapping_in", "expected"),
    [([1], [1, 1, 1]), ([1, 2], [1, 2, 1]), ([1, 2, 3, 4], [1, 2, 3])],
)
def test_default_band_mapping_follows_the_design(mapping_in, expected):
    interps = [rasterio.enums.ColorInterp.gray] * len(mapping_in)
    assert imagery.default_band_mapping(interps, alpha=[]) == expected


def _assert_refused_without_files(image: Image, message_part: str):
    image.refresh_from_db()
    assert image.status == ImageStatus.FAILED
    assert message_part in image.error
    assert image.cog_key == ""
    assert get_storage().list_keys(image.storage_prefix) == []


def test_it_refuses_a_raster_without_georeference(cast):
    image = _upload_bytes(cast.project, "float_nan_nocrs.tif", data_file("float_nan_nocrs.tif").read_bytes())
    with pytest.raises(InvalidRaster):
        imagery.ingest_image(image)
    _assert_refused_without_files(image, "no coordinate reference system")


def test_it_refuses_an_empty_file(cast):
    image = _upload_bytes(cast.project, "empty.tif", b"")
    with pytest.raises(InvalidRaster):
        imagery.ingest_image(image)
    _assert_refused_without_files(image, "not a GeoTIFF that can be read")


def test_it_refuses_a_text_file_named_tif(cast):
    image = _upload_bytes(cast.project, "notes.tif", b"these are my field notes, not a raster\n" * 50)
    with pytest.raises(InvalidRaster):
        imagery.ingest_image(image)
    _assert_refused_without_files(image, "not a GeoTIFF that can be read")


def test_it_refuses_a_truncated_geotiff(cast):
    payload = data_file("landsat_rgb_utm18.tif").read_bytes()
    image = _upload_bytes(cast.project, "cut.tif", payload[: len(payload) // 2])
    with pytest.raises(InvalidRaster):
        imagery.ingest_image(image)
    _assert_refused_without_files(image, "truncated")


def test_it_refuses_a_geotiff_whose_pixel_data_is_cut_short(cast, tmp_path):
    # Header and tile index intact, the last tiles missing: only reading the pixels fails.
    path = tmp_path / "tiled.tif"
    rng = np.random.default_rng(0)
    profile = {
        "driver": "GTiff",
        "width": 512,
        "height": 512,
        "count": 1,
        "dtype": "uint8",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "crs": "EPSG:32614",
        "transform": rasterio.transform.from_origin(500000, 5200000, 5, 5),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rng.integers(1, 255, (1, 512, 512), dtype="uint8"))
    payload = path.read_bytes()
    image = _upload_bytes(cast.project, "cut-tiles.tif", payload[: len(payload) - 40_000])
    with pytest.raises(InvalidRaster):
        imagery.ingest_image(image)
    _assert_refused_without_files(image, "truncated or corrupt")
    # GDAL's own texts stay in the log; the user reads a sentence.
    assert "See previous exception" not in image.error
    assert "Read failed" not in image.error


def test_it_refuses_a_raster_over_the_pixel_limit(cast, settings):
    settings.MAX_IMAGE_PIXELS = 1000
    image = _upload_bytes(cast.project, "big.tif", data_file("landsat_rgb_utm18.tif").read_bytes())
    with pytest.raises(InvalidRaster):
        imagery.ingest_image(image)
    _assert_refused_without_files(image, "more than the limit of 1000")


def test_it_refuses_a_raster_with_zero_valid_pixels(cast, tmp_path):
    path = tmp_path / "allnodata.tif"
    profile = {
        "driver": "GTiff",
        "width": 64,
        "height": 64,
        "count": 1,
        "dtype": "uint8",
        "nodata": 0,
        "crs": "EPSG:32614",
        "transform": rasterio.transform.from_origin(500000, 5200000, 5, 5),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.zeros((1, 64, 64), dtype="uint8"))
    image = _upload_bytes(cast.project, "allnodata.tif", path.read_bytes())
    with pytest.raises(InvalidRaster):
        imagery.ingest_image(image)
    _assert_refused_without_files(image, "Every pixel of the raster is nodata")


def test_big_rasters_get_statistics_from_a_decimated_read(cast, ingested_image, settings):
    settings.STATS_MAX_PIXELS = 10_000
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    with rasterio.open(data_file("naip_rgbn_utm14_2020.tif")) as src:
        band = src.read(1)
    p2, p98 = np.percentile(band[band != 0], [2, 98])
    # The decimated estimate is close to the full-resolution percentiles.
    assert image.band_stats[0]["p2"] == pytest.approx(p2, abs=6)
    assert image.band_stats[0]["p98"] == pytest.approx(p98, abs=6)


def test_float_raster_with_nan_nodata_ingests(cast, tmp_path):
    path = tmp_path / "float.tif"
    data = np.linspace(0, 1, 128 * 96, dtype="float32").reshape(1, 96, 128)
    data[0, :10, :10] = np.nan
    profile = {
        "driver": "GTiff",
        "width": 128,
        "height": 96,
        "count": 1,
        "dtype": "float32",
        "nodata": float("nan"),
        "crs": "EPSG:3857",
        "transform": rasterio.transform.from_origin(0, 0, 10, 10),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    image = _upload_bytes(cast.project, "float.tif", path.read_bytes())
    imagery.ingest_image(image)
    assert image.status == ImageStatus.READY
    valid = data[np.isfinite(data)]
    assert image.band_stats[0]["p98"] == pytest.approx(np.percentile(valid, 98), rel=1e-5)
    assert np.isnan(image.nodata)


def _gcp_copy(path, source: str, crs: str):
    """A copy of a reference raster placed by 3 x 3 ground control points instead of a geotransform."""
    from rasterio.control import GroundControlPoint

    with rasterio.open(data_file(source)) as src:
        data, profile, transform = src.read(), src.profile, src.transform
        width, height = src.width, src.height
    gcps = [
        GroundControlPoint(row=row, col=col, x=(transform @ (col, row))[0], y=(transform @ (col, row))[1])
        for col in (0, width / 2, width)
        for row in (0, height / 2, height)
    ]
    profile.pop("transform")
    profile.pop("crs")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.gcps = (gcps, crs)
    return transform


def test_it_places_a_raster_georeferenced_by_ground_control_points(cast, tmp_path):
    source = "landsat_rgb_utm18.tif"
    transform = _gcp_copy(tmp_path / "gcp.tif", source, "EPSG:32618")
    image = _upload_bytes(cast.project, "gcp.tif", (tmp_path / "gcp.tif").read_bytes())
    imagery.ingest_image(image)
    image.refresh_from_db()
    assert image.status == ImageStatus.READY, image.error
    assert image.epsg == 32618
    # The control points lie on the source's grid, so the fitted grid is the source's grid.
    assert image.geotransform == pytest.approx(list(transform.to_gdal()), abs=0.5)
    with rasterio.open(data_file(source)) as src:
        expected = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
    assert image.footprint.extent == pytest.approx(expected, abs=1e-3)
    with rasterio.open(get_storage().path(image.cog_key)) as cog, rasterio.open(data_file(source)) as src:
        assert cog.crs == src.crs
        assert np.array_equal(cog.read(1)[100:200, 100:200], src.read(1)[100:200, 100:200])
