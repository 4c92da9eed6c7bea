"""Label attributes in every export format that has per-object properties (GeoJSON,
GeoPackage, Shapefile, COCO) and the class definitions in the manifest; archived classes are
exported like the others."""

from __future__ import annotations

import json
import zipfile

import pytest

from tests.support.exports import NAIP, approved, blob, build_sync, read_layer, unzip


@pytest.fixture
def scene(cast, ingested_image):
    """NAIP with three approved fields (one archived class) and attributes of every type."""
    from annotator.models import Annotation, LabelClass

    image = ingested_image(NAIP)
    field = LabelClass.objects.create(
        project=cast.project,
        name="field",
        order=0,
        attributes=[
            {"name": "crop", "type": "choice", "required": True, "choices": ["wheat", "canola"]},
            {"name": "yield", "type": "number", "required": False},
            {"name": "irrigated", "type": "boolean", "required": False},
        ],
    )
    shed = LabelClass.objects.create(
        project=cast.project,
        name="shed",
        order=1,
        attributes=[{"name": "note", "type": "text", "required": False}, {"name": "yield", "type": "text"}],
    )
    values = {
        "wheat": (field, {"crop": "wheat", "yield": 3.5, "irrigated": True}),
        "canola": (field, {"crop": "canola", "irrigated": False}),
        "shed": (shed, {"note": "tin roof, «rusty»", "yield": "none"}),
    }
    made = {}
    for i, (key, (label_class, attributes)) in enumerate(values.items()):
        annotation = approved(image, cast, blob(150 + 250 * i, 200, 60, seed=i), label_class, state="draft")
        Annotation.objects.filter(pk=annotation.pk).update(attributes=attributes)
        made[key] = approved_after_edit(annotation, cast)
    shed.archived = True
    shed.save(update_fields=["archived"])
    return made, values


def approved_after_edit(annotation, cast):
    from annotator.workflow import review

    review.transition(annotation.pk, "submit", cast.annotator)
    return review.transition(annotation.pk, "approve", cast.reviewer)


@pytest.mark.django_db
def test_geojson_and_geopackage_carry_each_attribute_as_a_typed_column(cast, scene, tmp_path):
    made, _values = scene
    export = build_sync(cast.project, cast.reviewer, ["geojson", "gpkg"])
    unzip(export, tmp_path)

    features = json.loads((tmp_path / "gis" / "annotations.geojson").read_text())["features"]
    by_id = {f["id"]: f["properties"] for f in features}
    wheat, canola, shed = (by_id[made[k].pk] for k in ("wheat", "canola", "shed"))
    assert (wheat["attr_crop"], wheat["attr_yield"], wheat["attr_irrigated"]) == ("wheat", "3.5", True)
    assert (canola["attr_crop"], canola["attr_yield"], canola["attr_irrigated"]) == ("canola", None, False)
    assert (shed["class"], shed["attr_note"], shed["attr_yield"], shed["attr_crop"]) == (
        "shed",
        "tin roof, «rusty»",
        "none",
        None,
    )

    _crs, table, _geometries = read_layer(tmp_path / "gis" / "annotations.gpkg", layer="annotations")
    rows = {int(ann_id): i for i, ann_id in enumerate(table["ann_id"])}
    w, c, s = (rows[made[k].pk] for k in ("wheat", "canola", "shed"))
    assert [table["attr_crop"][i] for i in (w, c, s)] == ["wheat", "canola", None]
    assert [table["attr_irrigated"][i] for i in (w, c)] == [1, 0]
    assert table["attr_irrigated"][s] != table["attr_irrigated"][s]  # null reads back as NaN
    assert table["attr_note"][s] == "tin roof, «rusty»"
    # "yield" is a number in one class and text in the other: the column is text.
    assert [table["attr_yield"][i] for i in (w, c, s)] == ["3.5", None, "none"]


@pytest.mark.django_db
def test_the_shapefile_carries_the_attributes_as_one_json_column(cast, scene, tmp_path):
    made, values = scene
    export = build_sync(cast.project, cast.reviewer, ["shapefile"])
    unzip(export, tmp_path)
    with zipfile.ZipFile(tmp_path / "gis" / "annotations_shp.zip") as shp_zip:
        shp_zip.extractall(tmp_path / "shp")

    _crs, table, _geometries = read_layer(tmp_path / "shp" / "annotations.shp")

    stored = dict(zip(table["ann_id"].tolist(), table["attributes"].tolist(), strict=True))
    assert {key: json.loads(stored[made[key].pk]) for key in made} == {key: v[1] for key, v in values.items()}


@pytest.mark.django_db
def test_coco_annotations_carry_their_attributes(cast, scene, tmp_path):
    made, values = scene
    export = build_sync(cast.project, cast.reviewer, ["coco"], options={"chip_size": 1024})
    unzip(export, tmp_path)

    seen = {}
    for path in (tmp_path / "coco").glob("instances_*.json"):
        for entry in json.loads(path.read_text())["annotations"]:
            seen[entry["geoprompt_annotation_id"]] = entry["attributes"]
    assert seen == {made[key].pk: v[1] for key, v in values.items()}


@pytest.mark.django_db
def test_the_manifest_lists_every_class_with_its_attribute_definitions(cast, scene, tmp_path):
    export = build_sync(cast.project, cast.reviewer, ["geojson"])
    unzip(export, tmp_path)

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    classes = {c["name"]: c for c in manifest["label_classes"]}
    assert classes["shed"]["archived"] is True
    assert [d["name"] for d in classes["field"]["attributes"]] == ["crop", "yield", "irrigated"]
    assert export.counts["annotations"] == 3
