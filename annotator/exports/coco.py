"""COCO instance segmentation, one ``coco/instances_<split>.json`` per split.

Images are the chip PNGs (``file_name`` relative to ``images/``); each image entry also
carries ``crs`` (WKT), ``epsg`` and ``geotransform`` (GDAL order, chip pixel → image CRS).
Segmentations are polygons in chip pixel coordinates (x = col, y = row, origin at the
chip's top-left corner); an object with holes, which COCO polygons cannot express, is
written as uncompressed RLE instead. Categories are the project's label classes, ids from 1.
Each annotation entry carries the object's label attributes as ``attributes`` (name → value,
as annotators filled them in; ``{}`` for none), the key CVAT's COCO files use.

The JSON is streamed: image and annotation entries go to temporary files as they are made
and are joined into the final file at the end, so memory never holds the whole dataset.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from rasterio import features

from annotator.exports.chips import Chip


@dataclass
class ChipObject:
    """One annotation as seen in one chip: polygonal geometry in chip pixel coordinates."""

    annotation_id: int
    category_id: int  # 1-based, as in COCO; the semantic mask value too
    geometry: shapely.Geometry
    attributes: dict = field(default_factory=dict)  # label attributes: name → value


def polygons_of(geometry: shapely.Geometry) -> list[shapely.Polygon]:
    """The non-empty polygons of any geometry (clipping may leave lines and points)."""
    return [
        part
        for part in shapely.get_parts(geometry).tolist()
        if part.geom_type == "Polygon" and not part.is_empty and part.area > 0
    ]


def rasterize(geometries: list[tuple[shapely.Geometry, int]], size: int, dtype=np.uint8, fill: int = 0) -> np.ndarray:
    """Burn (geometry, value) pairs in chip pixel coordinates into a [size, size] array.

    A pixel takes the value of the last geometry covering its centre (GDAL's rule).
    """
    if not geometries:
        return np.full((size, size), fill, dtype=dtype)
    return features.rasterize(geometries, out_shape=(size, size), fill=fill, dtype=dtype)


def rle_encode(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE of a binary mask [H, W] (column-major runs, zeros first)."""
    flat = mask.ravel(order="F").astype(np.uint8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def segmentation_of(polygons: list[shapely.Polygon], size: int) -> dict | list[list[float]]:
    """COCO segmentation: exterior rings as flat [x1, y1, x2, y2, ...] lists, or RLE with holes."""
    if any(len(p.interiors) for p in polygons):
        return rle_encode(rasterize([(p, 1) for p in polygons], size))
    rings = []
    for polygon in polygons:
        coords = np.asarray(polygon.exterior.coords)[:-1]
        rings.append(np.round(coords, 3).ravel().tolist())
    return rings


class CocoWriter:
    """Streams the COCO files of every split into ``out_dir/coco``."""

    def __init__(self, out_dir: Path, categories: list[dict], description: str):
        self.dir = out_dir / "coco"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.categories = categories
        self.description = description
        self.parts: dict[str, dict[str, object]] = {}
        self.next_image_id = 1
        self.next_annotation_id = 1
        self.counts: dict[str, int] = {}

    def _part(self, split: str, kind: str):
        files = self.parts.setdefault(split, {})
        if kind not in files:
            files[kind] = open(self.dir / f".{split}.{kind}.part", "w", encoding="utf-8")  # noqa: SIM115
            files[f"{kind}_n"] = 0
        return files

    def _append(self, split: str, kind: str, entry: dict) -> None:
        files = self._part(split, kind)
        if files[f"{kind}_n"]:
            files[kind].write(",\n")
        files[kind].write(json.dumps(entry, separators=(",", ":")))
        files[f"{kind}_n"] += 1

    def add_chip(self, chip: Chip, file_name: str, crs_wkt: str, epsg: int | None, objects: list[ChipObject]) -> None:
        """One image entry for ``chip`` and one annotation entry per object."""
        image_id = self.next_image_id
        self.next_image_id += 1
        self._part(chip.split, "annotations")
        self._append(
            chip.split,
            "images",
            {
                "id": image_id,
                "file_name": file_name,
                "width": chip.size,
                "height": chip.size,
                "geoprompt_image_id": chip.image_id,
                "chip": [chip.col_off, chip.row_off],
                "crs": crs_wkt,
                "epsg": epsg,
                "geotransform": chip.geotransform,
            },
        )
        for obj in objects:
            polygons = polygons_of(obj.geometry)
            if not polygons:
                continue
            x0, y0, x1, y1 = shapely.total_bounds(polygons).tolist()
            self._append(
                chip.split,
                "annotations",
                {
                    "id": self.next_annotation_id,
                    "image_id": image_id,
                    "category_id": obj.category_id,
                    "segmentation": segmentation_of(polygons, chip.size),
                    "area": float(sum(p.area for p in polygons)),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "iscrowd": 0,
                    "geoprompt_annotation_id": obj.annotation_id,
                    "attributes": obj.attributes,
                },
            )
            self.next_annotation_id += 1
            self.counts[chip.split] = self.counts.get(chip.split, 0) + 1

    def discard(self) -> None:
        """Close the part files of an export that stops before :meth:`close` (its folder goes with them)."""
        for files in self.parts.values():
            for kind in ("images", "annotations"):
                if kind in files:
                    files[kind].close()

    def close(self) -> list[str]:
        """Join the parts into ``instances_<split>.json``; returns their paths relative to the export."""
        written = []
        for split, files in sorted(self.parts.items()):
            for kind in ("images", "annotations"):
                files[kind].close()
            path = self.dir / f"instances_{split}.json"
            head = {
                "info": {"description": self.description, "version": "1.0"},
                "licenses": [],
                "categories": self.categories,
            }
            with open(path, "w", encoding="utf-8") as out:
                out.write(json.dumps(head)[:-1])
                for kind in ("images", "annotations"):
                    out.write(f', "{kind}": [\n')
                    part = self.dir / f".{split}.{kind}.part"
                    with open(part, encoding="utf-8") as src:
                        shutil.copyfileobj(src, out)
                    os.remove(part)
                    out.write("\n]")
                out.write("}\n")
            written.append(f"coco/instances_{split}.json")
        return written
