"""POST /api/v1/images/{id}/segment: geometry, prompts, sessions, levels.

The model is the untrained, seeded tiny SAM 2.1: masks are arbitrary shapes but real
decoder outputs, which is all geometric exactness needs. Independent references are
computed here with ``SAM2ImagePredictor`` on the stored features, rasterio's polygonize
with the window transform and a pyproj reprojection.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio.features
import shapely
from affine import Affine
from pyproj import Transformer
from shapely.geometry import Point, shape
from shapely.ops import unary_union

from annotator.models import FeatureTile
from annotator.sam2 import features
from annotator.segment import outline
from tests.support.sam2 import encode_cached, ingest_file, synthetic_raster, tiny_model

pytestmark = [pytest.mark.sam2, pytest.mark.django_db]


@pytest.fixture(scope="module")
def predictor():
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    return SAM2ImagePredictor(tiny_model().model)


@pytest.fixture
def encoded(ingested_image):
    def make(name: str):
        return encode_cached(ingested_image(name))

    return make


@pytest.fixture
def naip_3857(cast, tmp_path):
    """The NAIP pixels placed in EPSG:3857 (Web Mercator, 6 m pixels near 45 N)."""
    import rasterio

    from tests.support.rasters import data_file

    with rasterio.open(data_file("naip_rgbn_utm14_2020.tif")) as src:
        array = src.read([1, 2, 3])
    transform = Affine(6.0, 0, -11_131_949.0, 0, -6.0, 5_621_521.0)
    path = synthetic_raster(tmp_path / "naip_3857.tif", array, "EPSG:3857", transform, nodata=0)
    return encode_cached(ingest_file(cast.project, cast.owner, path, name="naip_3857.tif"))


@pytest.fixture
def synthetic_big(cast, tmp_path):
    """1400 x 1100 px UTM image, dark field with a large bright disk (5 windows, 2 levels)."""
    rows, cols = np.mgrid[0:1100, 0:1400]
    disk = (cols - 700) ** 2 + (rows - 550) ** 2 < 480**2
    rng = np.random.default_rng(3)
    band = np.where(disk, 200, 40).astype(np.uint8) + rng.integers(0, 20, size=disk.shape, dtype=np.uint8)
    array = np.stack([band, band // 2 + 20, 255 - band])
    path = synthetic_raster(tmp_path / "disk.tif", array, "EPSG:32633", Affine(2, 0, 400000, 0, -2, 5000000))
    return encode_cached(ingest_file(cast.project, cast.owner, path, name="synthetic_disk.tif"))


# Clicks at non-integer pixels, so that float (not floored) coordinates matter.
CLICK_GRID = [(c + 0.37, r + 0.61) for r in range(150, 700, 110) for c in range(150, 900, 130)]


def pixel_to_crs(image, col: float, row: float, crs: str = "EPSG:4326") -> list[float]:
    x, y = Affine.from_gdal(*image.geotransform) @ (col, row)
    lon, lat = Transformer.from_crs(image.crs_wkt, crs, always_xy=True).transform(x, y)
    return [lon, lat]


def post(client, image, body):
    return client.post(f"/api/v1/images/{image.pk}/segment", body, format="json")


def reference_mask(predictor, tile: FeatureTile, points_px, labels, multimask: bool):
    """The decoder's mask for window-pixel prompts, via SAM2ImagePredictor on the stored features."""
    restored = features.to_decoder_inputs(features.load_window_tensors(tile.storage_key))
    predictor.reset_predictor()
    predictor._features = {"image_embed": restored.image_embed, "high_res_feats": restored.high_res_feats}
    predictor._orig_hw = [(1024, 1024)]
    predictor._is_image_set = True
    masks, scores, _ = predictor.predict(np.array(points_px), np.array(labels), multimask_output=multimask)
    best = int(np.argmax(scores))
    return masks[best][: tile.height, : tile.width] > 0, float(scores[best])


def reference_logits(predictor, tile: FeatureTile, points_px, labels) -> np.ndarray:
    """The decoder's best low-resolution logits [256, 256] (three masks), via SAM2ImagePredictor."""
    reference_mask(predictor, tile, points_px, labels, True)
    _, scores, low_res = predictor.predict(np.array(points_px), np.array(labels), multimask_output=True)
    return low_res[int(np.argmax(scores))]


def traced_polygon_4326(logits, tile: FeatureTile, crs_wkt: str, point_px):
    """The traced outline of ``logits`` (window pixels) through the window transform (rasterio), reprojected."""
    traced = outline.logits_outline(logits, tile.width, tile.height, np.array([point_px]), None, 0, 16).geometry
    transform = Affine.from_gdal(*tile.transform)
    to_4326 = Transformer.from_crs(crs_wkt, "EPSG:4326", always_xy=True)

    def through(xy):
        x = transform.a * xy[:, 0] + transform.b * xy[:, 1] + transform.c
        y = transform.d * xy[:, 0] + transform.e * xy[:, 1] + transform.f
        return np.column_stack(to_4326.transform(x, y))

    return shapely.transform(traced, through)


def reference_polygon_4326(mask, tile: FeatureTile, crs_wkt: str, point_px):
    """Polygonize in the image CRS through the window transform, keep the part under the click, reproject."""
    transform = Affine.from_gdal(*tile.transform)
    parts = [
        shape(geom)
        for geom, value in rasterio.features.shapes(mask.astype(np.uint8), transform=transform)
        if value == 1
    ]
    x, y = transform @ point_px
    chosen = [p for p in parts if p.buffer(abs(transform.a)).contains(Point(x, y))] or [
        max(parts, key=lambda p: p.area)
    ]
    in_crs = unary_union(chosen)
    to_4326 = Transformer.from_crs(crs_wkt, "EPSG:4326", always_xy=True)

    def reproject(ring):
        xs, ys = to_4326.transform(*zip(*ring.coords, strict=True))
        return list(zip(xs, ys, strict=True))

    from shapely.geometry import MultiPolygon, Polygon

    polys = in_crs.geoms if hasattr(in_crs, "geoms") else [in_crs]
    return MultiPolygon([Polygon(reproject(p.exterior), [reproject(h) for h in p.interiors]) for p in polys])


def iou(a, b) -> float:
    return a.intersection(b).area / a.union(b).area


def find_click(predictor, tile, image, candidates):
    """A window pixel whose best single-click mask contains it and has a sensible size."""
    for col, row in candidates:
        mask, _ = reference_mask(predictor, tile, [[col, row]], [1], True)
        area = mask.sum()
        if mask[int(row), int(col)] and 500 < area < 0.6 * mask.size:
            return col, row
    pytest.fail("no click gave a usable mask")


@pytest.mark.parametrize("epsg", [26914, 3857])
def test_the_polygon_is_the_decoders_mask_through_the_window_transform(
    encoded, naip_3857, predictor, cast, client_for, epsg
):
    image = encoded("naip_rgbn_utm14_2020.tif") if epsg == 26914 else naip_3857
    assert image.epsg == epsg
    (tile,) = FeatureTile.objects.filter(image=image)
    col, row = find_click(predictor, tile, image, CLICK_GRID)
    # simplify_px 0: every traced vertex is kept.
    body = {"positive": [pixel_to_crs(image, col, row)], "simplify_px": 0}
    response = post(client_for(cast.annotator), image, body)
    assert response.status_code == 200, response.content
    feature = response.json()
    props = feature["properties"]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert props["level"] == 0 and props["untrained"] is True and props["model"] == "sam2.1_hiera_tiny"
    assert set(props["timing_ms"]) >= {"load", "decode", "polygonize", "total"}
    # The same split, and the view's whole time, for browsers' developer tools and the load bench.
    server_timing = dict(part.split(";dur=") for part in response["Server-Timing"].split(", "))
    assert set(server_timing) == {"load", "decode", "polygonize", "segment", "view"}
    assert float(server_timing["view"]) >= float(server_timing["segment"]) == props["timing_ms"]["total"]

    mask, score = reference_mask(predictor, tile, [[col, row]], [1], True)
    # The outline is traced on the decoder's logits (tests/segment/test_outline_logits.py
    # checks it against the upsampled mask's pixel outline on object-like masks); here the
    # untrained model's noise mask is traced the same way and moved by rasterio's transform.
    logits = reference_logits(predictor, tile, [[col, row]], [1])
    expected = traced_polygon_4326(logits, tile, image.crs_wkt, (col, row))
    got = shape(feature["geometry"])
    assert got.is_valid
    assert iou(got, expected) >= 0.999
    assert mask[int(row), int(col)] and got.buffer(1e-5).contains(Point(pixel_to_crs(image, col, row)))
    assert props["score"] == pytest.approx(score, abs=1e-4)
    geod_area = abs(__import__("pyproj").Geod(ellps="WGS84").geometry_area_perimeter(got)[0])
    assert props["area_m2"] == pytest.approx(geod_area, rel=1e-3)


def test_prompts_may_be_given_in_another_crs(encoded, cast, client_for):
    image = encoded("hillshade_1band_3857.tif")
    lonlat = post(client_for(cast.annotator), image, {"positive": [pixel_to_crs(image, 400.5, 300.5)]}).json()
    native = post(
        client_for(cast.annotator),
        image,
        {"positive": [pixel_to_crs(image, 400.5, 300.5, "EPSG:3857")], "crs": "EPSG:3857"},
    ).json()
    assert iou(shape(lonlat["geometry"]), shape(native["geometry"])) > 0.999


def test_a_negative_point_changes_the_mask(encoded, predictor, cast, client_for):
    image = encoded("naip_rgbn_utm14_2020.tif")
    (tile,) = FeatureTile.objects.filter(image=image)
    col, row = find_click(predictor, tile, image, CLICK_GRID)
    client = client_for(cast.annotator)
    first = post(client, image, {"positive": [pixel_to_crs(image, col, row)]}).json()
    mask, _ = reference_mask(predictor, tile, [[col, row]], [1], True)
    inside = np.argwhere(mask)
    far = inside[np.argmax(np.hypot(inside[:, 1] - col, inside[:, 0] - row))]  # a mask pixel far from the click
    second = post(
        client,
        image,
        {"positive": [pixel_to_crs(image, col, row)], "negative": [pixel_to_crs(image, far[1] + 0.5, far[0] + 0.5)]},
    ).json()
    assert iou(shape(first["geometry"]), shape(second["geometry"])) < 0.99


def test_a_box_prompt_gives_a_polygon_near_the_box(encoded, cast, client_for):
    image = encoded("naip_rgbn_utm14_2020.tif")
    box = pixel_to_crs(image, 300, 250) + pixel_to_crs(image, 520, 420)
    response = post(client_for(cast.annotator), image, {"box": box})
    assert response.status_code == 200, response.content
    feature = response.json()
    assert feature["geometry"] is not None and feature["properties"]["area_m2"] > 0
    lon0, lat0, lon1, lat1 = box
    from shapely.geometry import box as make_box

    assert shape(feature["geometry"]).intersects(
        make_box(min(lon0, lon1), min(lat0, lat1), max(lon0, lon1), max(lat0, lat1))
    )


def test_a_sessions_second_click_uses_the_first_mask_and_fewer_points_undo(encoded, cast, client_for):
    image = encoded("naip_rgbn_utm14_2020.tif")
    client = client_for(cast.annotator)
    p1, p2 = pixel_to_crs(image, 420.5, 330.5), pixel_to_crs(image, 470.5, 360.5)
    first = post(client, image, {"positive": [p1]}).json()
    session = first["properties"]["session_id"]
    assert len(session) == 32 and first["properties"]["used_previous_mask"] is False
    second = post(client, image, {"positive": [p1, p2], "session_id": session}).json()
    assert second["properties"]["used_previous_mask"] is True and second["properties"]["session_id"] == session
    fresh = post(client, image, {"positive": [p1, p2]}).json()
    assert fresh["properties"]["used_previous_mask"] is False
    assert fresh["properties"]["session_id"] != session
    assert shape(fresh["geometry"]).symmetric_difference(shape(second["geometry"])).area > 0
    undone = post(client, image, {"positive": [p1], "session_id": session}).json()
    assert undone["properties"]["used_previous_mask"] is False
    assert iou(shape(undone["geometry"]), shape(first["geometry"])) > 0.999
    third = post(client, image, {"positive": [p1, p2], "session_id": session}).json()
    assert iou(shape(third["geometry"]), shape(second["geometry"])) > 0.999


def test_prompts_across_a_window_seam_go_to_a_coarser_level(synthetic_big, cast, client_for):
    image = synthetic_big
    body = {"positive": [pixel_to_crs(image, 40.5, 550.5), pixel_to_crs(image, 1360.5, 560.5)]}
    props = post(client_for(cast.annotator), image, body).json()["properties"]
    assert props["level"] == 1 and props["levels_tried"] == [1]
    near = {"positive": [pixel_to_crs(image, 300.5, 500.5), pixel_to_crs(image, 420.5, 520.5)]}
    props = post(client_for(cast.annotator), image, near).json()["properties"]
    assert props["levels_tried"][0] == 0 and props["window"]["col_off"] == 0


def test_a_mask_cut_by_the_window_edge_is_retried_at_a_coarser_level(synthetic_big, predictor, cast, client_for):
    image = synthetic_big
    client = client_for(cast.annotator)
    tiles = {(t.level, t.row_off, t.col_off): t for t in FeatureTile.objects.filter(image=image)}
    escalated = kept = None
    for col in range(600, 1000, 40):
        props = post(client, image, {"positive": [pixel_to_crs(image, col + 0.5, 540.5)]}).json()["properties"]
        if props["levels_tried"] == [0, 1] and escalated is None:
            escalated = (col, props)
        if props["levels_tried"] == [0] and kept is None:
            kept = (col, props)
    assert escalated is not None, "no click in the disk escalated"
    col, props = escalated
    assert props["level"] == 1 and props["mask_cut_by_window_edge"] is False
    # Independently: the level-0 window the click went to gives a mask that reaches a cut edge.
    window0 = [t for t in tiles.values() if t.level == 0]
    chosen = max(
        (t for t in window0 if t.col_off <= col <= t.col_off + t.width),
        key=lambda t: min(
            col - t.col_off if t.col_off else 1e9, t.col_off + t.width - col if t.col_off + t.width < 1400 else 1e9
        ),
    )
    mask, _ = reference_mask(predictor, chosen, [[col + 0.5 - chosen.col_off, 540.5 - chosen.row_off]], [1], True)
    cut_left, cut_top = chosen.col_off > 0, chosen.row_off > 0
    cut_right, cut_bottom = chosen.col_off + chosen.width < 1400, chosen.row_off + chosen.height < 1100
    assert (
        (cut_left and mask[:, :2].any())
        or (cut_top and mask[:2].any())
        or (cut_right and mask[:, -2:].any())
        or (cut_bottom and mask[-2:].any())
    )


def test_the_default_simplification_stays_within_half_a_pixel(encoded, cast, client_for):
    image = encoded("naip_rgbn_utm14_2020.tif")
    body = {"positive": [pixel_to_crs(image, 420.5, 330.5)]}
    exact = shape(post(client_for(cast.annotator), image, {**body, "simplify_px": 0}).json()["geometry"])
    simple = shape(post(client_for(cast.annotator), image, body).json()["geometry"])
    assert shapely.get_num_coordinates(simple) < shapely.get_num_coordinates(exact)
    assert iou(exact, simple) > 0.98 and simple.is_valid


def test_all_three_candidates_can_be_returned(encoded, cast, client_for):
    image = encoded("naip_rgbn_utm14_2020.tif")
    body = {"positive": [pixel_to_crs(image, 420.5, 330.5)], "return_all": True, "simplify_px": 1.5}
    props = post(client_for(cast.annotator), image, body).json()["properties"]
    assert len(props["candidates"]) == 3
    assert max(c["score"] for c in props["candidates"]) == pytest.approx(props["score"])
