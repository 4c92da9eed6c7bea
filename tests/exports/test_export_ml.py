"""ML exports: COCO, YOLO, semantic masks and STAC, checked against the source polygons.

The source polygons are drawn in image pixel space; each check rasterises them on the
chip grid with rasterio, independently of the export code, and compares with what the
export wrote (read with pycocotools, plain text, rasterio and pystac).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import shapely
import yaml
from affine import Affine
from PIL import Image as PILImage
from pycocotools.coco import COCO
from rasterio import features

from tests.support.exports import NAIP, approved, blob, build_sync, burn, iou, unzip
from tests.support.rasters import data_file

CHIP = 256  # NAIP (934 x 723) → chip columns at 0, 256, 512, 678 and rows at 0, 256, 467


@pytest.fixture
def scene(cast, ingested_image):
    """NAIP with approved objects of two classes, inside chips, across chip edges and with a hole."""
    from annotator.models import LabelClass

    image = ingested_image(NAIP)
    field = LabelClass.objects.create(project=cast.project, name="field", order=0)
    pond = LabelClass.objects.create(project=cast.project, name="pond", order=1)
    ring = shapely.Polygon(
        [(300, 300), (420, 300), (420, 420), (300, 420)], holes=[[(340, 340), (380, 340), (380, 380), (340, 380)]]
    )
    shapes = [
        (blob(120, 100, 60, seed=1), field),  # inside the first chip
        (blob(256, 600, 70, seed=2), pond),  # across the chip edge at col 256
        (ring, field),  # a hole: COCO writes RLE
        (blob(720, 380, 50, seed=4), pond),  # in the overlap of the shifted edge column
        (blob(840, 120, 45, seed=5), field),
    ]
    sources = {approved(image, cast, polygon, cls).pk: (polygon, cls) for polygon, cls in shapes}
    return image, sources, [field, pond]


def _coco_files(root) -> list[COCO]:
    return [COCO(str(path)) for path in sorted((root / "coco").glob("instances_*.json"))]


@pytest.mark.django_db
def test_coco_annotations_rasterise_back_onto_their_source_polygons(cast, scene, tmp_path):
    _image, sources, _classes = scene
    export = build_sync(cast.project, cast.reviewer, ["coco"], options={"chip_size": CHIP, "seed": 3})
    unzip(export, tmp_path)

    seen = set()
    checked = 0
    for coco in _coco_files(tmp_path):
        assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["field", "pond"]
        for ann in coco.dataset["annotations"]:
            chip = coco.imgs[ann["image_id"]]
            col_off, row_off = chip["chip"]
            polygon, cls = sources[ann["geoprompt_annotation_id"]]
            expected = burn(polygon, CHIP, col_off, row_off)
            got = coco.annToMask(ann).astype(bool)
            assert got.shape == (CHIP, CHIP)
            assert iou(got, expected) >= 0.99, (ann["geoprompt_annotation_id"], chip["file_name"])
            assert coco.cats[ann["category_id"]]["name"] == cls.name
            seen.add(ann["geoprompt_annotation_id"])
            checked += 1
    assert seen == set(sources)
    assert checked >= len(sources) + 2  # the objects across chip edges appear in two chips each
    assert export.counts["chip_objects"] == checked


@pytest.mark.django_db
def test_coco_chips_are_rendered_with_the_band_mapping_and_stretch_and_georeferenced(cast, scene, tmp_path):
    image, _sources, _classes = scene
    export = build_sync(cast.project, cast.owner, ["coco"], options={"chip_size": CHIP})
    unzip(export, tmp_path)

    coco = _coco_files(tmp_path)[0]
    chip = next(iter(coco.imgs.values()))
    col_off, row_off = chip["chip"]
    png = np.asarray(PILImage.open(tmp_path / "images" / chip["file_name"]))
    assert png.shape == (CHIP, CHIP, 3)
    with rasterio.open(data_file(NAIP)) as src:
        window = rasterio.windows.Window(col_off, row_off, CHIP, CHIP)
        bands = src.read(image.band_mapping, window=window).astype(np.float64)
        valid = src.dataset_mask(window=window) > 0
        expected_transform = src.transform @ Affine.translation(col_off, row_off)
    for i, (low, high) in enumerate(image.stretch):
        expected = ((np.clip(bands[i], low, high) - low) / (high - low) * 255.0).astype(np.uint8)
        expected[~valid] = 0
        np.testing.assert_array_equal(png[..., i], expected)
    assert Affine.from_gdal(*chip["geotransform"]).almost_equals(expected_transform)
    assert chip["epsg"] == 26914 and "UTM" in chip["crs"]


@pytest.mark.django_db
def test_yolo_polygons_are_normalised_and_match_the_sources(cast, scene, tmp_path):
    _image, sources, classes = scene
    export = build_sync(cast.project, cast.owner, ["yolo", "coco"], options={"chip_size": CHIP})
    unzip(export, tmp_path)

    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["names"] == {0: "field", 1: "pond"}
    chips = {}
    for coco in _coco_files(tmp_path):
        for ann in coco.dataset["annotations"]:
            chip = coco.imgs[ann["image_id"]]
            chips.setdefault(chip["file_name"], []).append({**ann, "chip": chip["chip"]})
    assert chips
    for file_name, anns in chips.items():
        split = file_name.split("/")[0]
        assert (tmp_path / data[split] / file_name.split("/")[1]).exists()
        label_path = tmp_path / "labels" / file_name.replace(".png", ".txt")
        lines = [line.split() for line in label_path.read_text().splitlines()]
        col_off, row_off = anns[0]["chip"]
        for line in lines:
            coords = np.asarray([float(v) for v in line[1:]]).reshape(-1, 2)
            assert (coords >= 0).all() and (coords <= 1).all()
            drawn = features.rasterize([(shapely.Polygon(coords * CHIP), 1)], out_shape=(CHIP, CHIP)).astype(bool)
            best = max(
                iou(drawn, burn(shapely.Polygon(polygon.exterior), CHIP, col_off, row_off))
                for polygon, cls in sources.values()
                if classes.index(cls) == int(line[0])
            )
            assert best >= 0.99
        assert len(lines) == len(anns)


@pytest.mark.django_db
def test_yolo_data_yaml_names_train_val_and_test_even_when_a_split_got_no_chips(cast, scene, tmp_path):
    # One 1024 px chip covers the whole NAIP scene (934 x 723 px): every object goes to one split.
    export = build_sync(cast.project, cast.owner, ["yolo"], options={"chip_size": 1024})
    unzip(export, tmp_path)

    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert {split: data[split] for split in ("train", "val", "test")} == {
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
    }
    assert data["path"] == "." and data["nc"] == 2 and data["names"] == {0: "field", 1: "pond"}
    filled = [split for split in ("train", "val", "test") if (tmp_path / data[split]).is_dir()]
    assert len(filled) == 1
    assert len(list((tmp_path / data[filled[0]]).glob("*.png"))) == 1


@pytest.mark.django_db
def test_mask_chips_equal_the_rasterised_polygons_with_nodata_beyond_the_image(cast, scene, tmp_path):
    image, sources, classes = scene
    export = build_sync(cast.project, cast.owner, ["masks"], options={"chip_size": 1024})
    unzip(export, tmp_path)

    (path,) = list((tmp_path / "masks").glob("*/*.tif"))
    with rasterio.open(path) as mask_file, rasterio.open(data_file(NAIP)) as src:
        mask = mask_file.read(1)
        assert mask_file.crs == src.crs
        assert mask_file.transform.almost_equals(src.transform)
        assert mask_file.nodata == 255
        valid = src.dataset_mask() > 0
    expected = np.zeros((1024, 1024), dtype=np.uint8)
    for polygon, cls in sources.values():
        expected[burn(polygon, 1024)] = classes.index(cls) + 1
    expected[: image.height, : image.width][~valid] = 255
    expected[image.height :, :] = 255
    expected[:, image.width :] = 255
    assert (mask == 255).sum() > 1024 * 1024 - 934 * 723 - 1
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.django_db
def test_stac_catalog_validates_and_describes_every_chip(cast, scene, tmp_path):
    import pystac
    from pystac.extensions.label import LabelExtension
    from pystac.extensions.projection import ProjectionExtension
    from pystac.validation import JsonSchemaSTACValidator

    image, _sources, _classes = scene
    export = build_sync(cast.project, cast.owner, ["stac"], options={"chip_size": CHIP})
    unzip(export, tmp_path)

    catalog = pystac.Catalog.from_file(str(tmp_path / "stac" / "catalog.json"))
    items = list(catalog.get_items(recursive=True))
    assert len(items) == sum(export.counts["chips"].values()) > 0
    # Core schemas ship with pystac and validate offline; extension schemas live on the web.
    validator = JsonSchemaSTACValidator()
    validator.validate_core(catalog.to_dict(), pystac.STACObjectType.CATALOG, "1.1.0")
    for item in items:
        validator.validate_core(item.to_dict(), pystac.STACObjectType.ITEM, "1.1.0")
        label = LabelExtension.ext(item)
        assert label.label_type == "raster"
        assert label.label_classes[0].classes == ["field", "pond"]
        assert ProjectionExtension.ext(item).code == "EPSG:26914"
        labels = item.assets["labels"]
        assert "labels" in labels.roles
        with rasterio.open(labels.get_absolute_href()) as mask_file:
            assert list(mask_file.transform)[:6] == ProjectionExtension.ext(item).transform
        assert shapely.from_geojson(json.dumps(item.geometry)).intersects(shapely.from_wkb(bytes(image.footprint.wkb)))
        assert item.properties["geoprompt:split"] in ("train", "val", "test")
