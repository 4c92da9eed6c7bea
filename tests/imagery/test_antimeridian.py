"""Rasters across the antimeridian: one continuous footprint inside, valid RFC 7946 outside."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from rasterio.transform import from_origin
from shapely.geometry import shape

from annotator.geometry import crosses_antimeridian, into_frame, rfc7946_bbox, split_antimeridian, unwrap_longitudes
from annotator.imagery import ingest as imagery
from annotator.models import Image
from annotator.storage import get_storage
from tests.support.sam2 import synthetic_raster


def _write(path, crs: str, transform, width: int = 200, height: int = 100):
    pixels = np.random.default_rng(3).integers(1, 255, (3, height, width), dtype="uint8")
    return synthetic_raster(path, pixels, crs, transform, nodata=0)


def _ingest(cast, path) -> Image:
    image = Image.objects.create(project=cast.project, name=path.name, uploaded_by=cast.owner)
    image.original_key = f"{image.storage_prefix}/original.tif"
    get_storage().put_file(path, image.original_key)
    image.save()
    return imagery.ingest_image(image)


@pytest.mark.parametrize(
    ("crs", "transform"),
    [
        # EPSG:4326 with longitudes running past 180 (179.8 → 180.2).
        ("EPSG:4326", from_origin(179.8, -16.0, 0.002, 0.002)),
        # UTM zone 60S (Fiji): about 179.6 E to 179.4 W.
        ("EPSG:32760", from_origin(780_000, 8_230_000, 500, 500)),
    ],
)
def test_a_raster_across_the_antimeridian_gets_a_valid_split_footprint(cast, client_for, tmp_path, crs, transform):
    image = _ingest(cast, _write(tmp_path / "fiji.tif", crs, transform))
    # Inside: one simple polygon in a continuous frame reaching past 180.
    inside = shapely.from_wkb(bytes(image.footprint.wkb))
    assert inside.is_valid
    assert crosses_antimeridian(inside)
    assert inside.bounds[2] - inside.bounds[0] < 5.0
    # Outside: valid RFC 7946, split at the antimeridian, bbox west > east.
    detail = client_for(cast.viewer).get(f"/api/v1/images/{image.pk}/").json()
    footprint = shape(detail["footprint"])
    assert detail["footprint"]["type"] == "MultiPolygon"
    assert footprint.is_valid
    assert footprint.bounds[0] >= -180.0 and footprint.bounds[2] <= 180.0
    assert footprint.area == pytest.approx(inside.area, rel=1e-9)
    west, _south, east, _north = detail["bounds"]
    assert west > 179.0 and east < -179.0


def test_an_ordinary_raster_keeps_a_polygon_footprint_and_plain_bounds(cast, client_for, ingested_image):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    detail = client_for(cast.viewer).get(f"/api/v1/images/{image.pk}/").json()
    assert detail["footprint"]["type"] == "Polygon"
    assert detail["bounds"] == pytest.approx(list(image.footprint.extent))


def test_longitudes_unwrap_along_a_path_and_either_convention_lands_in_the_frame():
    assert unwrap_longitudes([179.5, 179.9, -179.9, -179.5]) == pytest.approx([179.5, 179.9, 180.1, 180.5])
    frame = shapely.box(179.8, -16.2, 180.2, -16.0)
    for lon in (-179.95, 180.05):
        point = into_frame(shapely.Point(lon, -16.1), frame)
        assert frame.contains(point), lon
    assert into_frame(shapely.Point(10.0, 0.0), shapely.box(9, -1, 11, 1)).x == 10.0


def test_split_keeps_the_area_and_gives_parts_on_each_side():
    square = shapely.box(179.9, 0.0, 180.1, 0.1)
    split = split_antimeridian(square)
    assert split.geom_type == "MultiPolygon"
    assert sorted(round(p.bounds[0], 6) for p in split.geoms) == [-180.0, 179.9]
    assert split.area == pytest.approx(square.area)
    assert rfc7946_bbox(square) == pytest.approx([179.9, 0.0, -179.9, 0.1])
    assert split_antimeridian(shapely.box(1, 1, 2, 2)).equals(shapely.box(1, 1, 2, 2))


def test_an_annotation_across_the_line_is_accepted_in_either_convention_and_comes_back_split(
    cast, client_for, tmp_path
):
    image = _ingest(cast, _write(tmp_path / "fiji.tif", "EPSG:4326", from_origin(179.8, -16.0, 0.002, 0.002)))
    client = client_for(cast.annotator)
    url = f"/api/v1/projects/{cast.project.pk}/annotations/"
    # The same square, west of the line and east of it: once with longitudes past 180, once
    # split at the line as RFC 7946 writes it.
    continuous = {
        "type": "Polygon",
        "coordinates": [[[179.95, -16.1], [180.05, -16.1], [180.05, -16.05], [179.95, -16.05], [179.95, -16.1]]],
    }
    split = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[179.95, -16.1], [180.0, -16.1], [180.0, -16.05], [179.95, -16.05], [179.95, -16.1]]],
            [[[-180.0, -16.1], [-179.95, -16.1], [-179.95, -16.05], [-180.0, -16.05], [-180.0, -16.1]]],
        ],
    }
    areas = []
    for geometry in (continuous, split):
        response = client.post(url, {"image": image.pk, "geometry": geometry}, format="json")
        assert response.status_code == 201, response.content
        feature = response.json()
        out = shape(feature["geometry"])
        assert out.is_valid
        assert out.bounds[0] >= -180.0 and out.bounds[2] <= 180.0
        assert feature["geometry"]["type"] == "MultiPolygon"
        assert len(feature["geometry"]["coordinates"]) == 2
        areas.append(feature["properties"]["area_m2"])
    # About 10.7 km x 5.3 km at 16° S, the same both ways.
    assert areas[0] == pytest.approx(areas[1], rel=1e-6)
    assert 5.0e7 < areas[0] < 6.0e7
