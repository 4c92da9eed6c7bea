"""GIS exports read back with pyogrio: geometry, CRS and attributes survive the round trip."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from tests.support.exports import NAIP, approved, blob, build_sync, pixel_to_4326, read_layer, unzip


@pytest.fixture
def scene(cast, ingested_image):
    """The NAIP scene with three approved annotations (one with a hole), a draft and a class."""
    from annotator.models import LabelClass

    image = ingested_image(NAIP)
    field = LabelClass.objects.create(project=cast.project, name="field", order=0)
    pond = LabelClass.objects.create(project=cast.project, name="pond", order=1)
    ring = shapely.Polygon(
        [(300, 300), (420, 300), (420, 420), (300, 420)], holes=[[(340, 340), (380, 340), (380, 380), (340, 380)]]
    )
    shapes = [(blob(120, 100, 60, seed=1), field), (blob(700, 500, 80, seed=2), pond), (ring, field)]
    annotations = [approved(image, cast, polygon, cls) for polygon, cls in shapes]
    draft = approved(image, cast, blob(600, 150, 40, seed=3), pond, state="draft")
    return image, annotations, draft


def _stored(annotation) -> shapely.Geometry:
    return shapely.from_wkb(bytes(annotation.geometry.wkb))


@pytest.mark.django_db
def test_geopackage_and_shapefile_keep_geometry_crs_and_attributes_in_4326(cast, scene, tmp_path):
    from annotator.models import Annotation

    _image, annotations, _draft = scene
    drafted = {"run": 7, "kind": "everything", "level": 1, "window": [0, 0, 467, 362], "predicted_iou": 0.91}
    Annotation.objects.filter(pk=annotations[0].pk).update(source="auto", provenance=drafted)
    export = build_sync(cast.project, cast.reviewer, ["gpkg", "shapefile", "geojson"])
    unzip(export, tmp_path)

    assert export.counts["annotations"] == 3
    gpkg = tmp_path / "gis" / "annotations.gpkg"
    crs, table, geometries = read_layer(gpkg, layer="annotations")
    assert crs.to_epsg() == 4326
    ids = table["ann_id"].tolist()
    assert sorted(ids) == sorted(a.pk for a in annotations)
    by_id = {a.pk: a for a in annotations}
    for ann_id, geometry, cls, state, author in zip(
        ids,
        geometries,
        table["class"].tolist(),
        table["state"].tolist(),
        table["author"].tolist(),
        strict=True,
    ):
        source = _stored(by_id[ann_id])
        assert shapely.equals_exact(geometry, source, tolerance=1e-9)
        assert cls == by_id[ann_id].label_class.name
        assert state == "approved"
        assert author == "annotator"

    with zipfile.ZipFile(tmp_path / "gis" / "annotations_shp.zip") as shp_zip:
        shp_zip.extractall(tmp_path / "shp")
    crs, table, geometries = read_layer(tmp_path / "shp" / "annotations.shp")
    assert crs.to_epsg() == 4326
    assert sorted(table["ann_id"].tolist()) == sorted(by_id)
    for ann_id, geometry in zip(table["ann_id"].tolist(), geometries, strict=True):
        # A Shapefile does not tell Polygon from a one-part MultiPolygon: compare shapes.
        assert shapely.equals(geometry, _stored(by_id[ann_id]))

    collection = json.loads((tmp_path / "gis" / "annotations.geojson").read_text())
    assert collection["type"] == "FeatureCollection"
    assert {f["properties"]["ann_id"] for f in collection["features"]} == set(by_id)
    assert all(f["properties"]["created"] for f in collection["features"])
    # A drafted annotation's provenance travels with it; the others have none.
    properties = {f["properties"]["ann_id"]: f["properties"] for f in collection["features"]}
    assert properties[annotations[0].pk]["source"] == "auto"
    assert properties[annotations[0].pk]["provenance"] == drafted
    assert properties[annotations[1].pk]["provenance"] is None


@pytest.mark.django_db
def test_image_crs_on_request_writes_one_layer_per_image_in_its_own_crs(cast, scene, tmp_path):
    image, annotations, _draft = scene
    export = build_sync(cast.project, cast.owner, ["gpkg", "shapefile"], options={"crs": "image"})
    unzip(export, tmp_path)

    layer = f"image_{image.pk}"
    crs, table, geometries = read_layer(tmp_path / "gis" / "annotations.gpkg", layer=layer)
    assert crs.to_epsg() == 26914
    by_id = {a.pk: a for a in annotations}
    to_4326 = Transformer.from_crs(26914, 4326, always_xy=True)
    for ann_id, geometry in zip(table["ann_id"].tolist(), geometries, strict=True):
        # Back to 4326 through pyproj, compared with the stored geometry (about 1 mm).
        back = shapely.transform(geometry, lambda xy: np.column_stack(to_4326.transform(xy[:, 0], xy[:, 1])))
        assert shapely.equals_exact(back, _stored(by_id[ann_id]), tolerance=1e-8)

    with zipfile.ZipFile(tmp_path / "gis" / "annotations_shp.zip") as shp_zip:
        assert f"{layer}.prj" in shp_zip.namelist()
        shp_zip.extractall(tmp_path / "shp")
    crs, table, geometries = read_layer(tmp_path / "shp" / f"{layer}.shp")
    assert crs.to_epsg() == 26914
    assert len(geometries) == 3


@pytest.mark.django_db
def test_filters_choose_states_classes_and_area(cast, scene, tmp_path):
    image, annotations, _draft = scene
    pond = annotations[1].label_class
    export = build_sync(cast.project, cast.owner, ["geojson"], filters={"states": ["approved", "draft"]})
    assert export.counts["annotations"] == 4
    export = build_sync(cast.project, cast.owner, ["geojson"], filters={"label_classes": [pond.pk]})
    assert export.counts["annotations"] == 1
    area = json.loads(shapely.to_geojson(pixel_to_4326(image, shapely.box(0, 0, 250, 250))))
    export = build_sync(cast.project, cast.owner, ["geojson"], filters={"area": area})
    unzip(export, tmp_path)
    collection = json.loads((tmp_path / "gis" / "annotations.geojson").read_text())
    assert [f["properties"]["ann_id"] for f in collection["features"]] == [annotations[0].pk]
