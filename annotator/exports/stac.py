"""A STAC catalog of the chips: ``stac/catalog.json`` and one item per chip.

Each item (STAC 1.1, written with pystac) has the chip's EPSG:4326 footprint as geometry,
the projection extension (the image's CRS, the chip's transform and shape), the label
extension (raster labels: the semantic mask, classes by name) and assets ``image`` (the
chip PNG) and ``labels`` (the mask GeoTIFF); ``geoprompt:split`` names its split. Items are
written as they come, and so are the catalog's links to them (to a temporary file, joined
into ``catalog.json`` at the end): memory holds no list of chips.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pystac
import shapely
from pystac.extensions.label import LabelClasses, LabelExtension, LabelMethod, LabelTask, LabelType
from pystac.extensions.projection import ProjectionExtension

from annotator.exports.chips import Chip


class StacWriter:
    """Writes one item per chip into ``out_dir/stac/items`` and the catalog at the end."""

    def __init__(self, out_dir: Path, catalog_id: str, description: str, class_names: list[str], when: datetime):
        self.dir = out_dir / "stac"
        (self.dir / "items").mkdir(parents=True, exist_ok=True)
        self.catalog_id = catalog_id
        self.description = description
        self.class_names = class_names
        self.when = when
        self.links_part = self.dir / ".links.part"
        self.links = open(self.links_part, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()/discard()
        self.item_count = 0

    def add_chip(self, chip: Chip, image_href: str, mask_href: str, epsg: int | None, crs_wkt: str) -> None:
        """Write the item of one chip; hrefs are relative to the export root."""
        item = pystac.Item(
            id=chip.name,
            geometry=json.loads(shapely.to_geojson(chip.footprint)),
            bbox=list(chip.footprint.bounds),
            datetime=self.when,
            properties={"geoprompt:split": chip.split, "geoprompt:image_id": chip.image_id},
        )
        projection = ProjectionExtension.ext(item, add_if_missing=True)
        projection.apply(
            code=f"EPSG:{epsg}" if epsg else None,
            wkt2=None if epsg else crs_wkt,
            transform=list(chip.transform)[:6],
            shape=[chip.size, chip.size],
        )
        label = LabelExtension.ext(item, add_if_missing=True)
        label.apply(
            label_description="Semantic mask of annotated objects; pixel value = class index + 1, 0 background.",
            label_type=LabelType.RASTER,
            label_properties=None,
            label_classes=[LabelClasses.create(classes=self.class_names, name=None)],
            label_tasks=[LabelTask.SEGMENTATION],
            label_methods=[LabelMethod.MANUAL],
        )
        item.add_asset(
            "image", pystac.Asset(href=f"../../{image_href}", media_type=pystac.MediaType.PNG, roles=["data"])
        )
        item.add_asset(
            "labels",
            pystac.Asset(
                href=f"../../{mask_href}", media_type=pystac.MediaType.GEOTIFF, roles=["labels", "labels-raster"]
            ),
        )
        item.add_link(pystac.Link(pystac.RelType.ROOT, "../catalog.json", media_type=pystac.MediaType.JSON))
        item.add_link(pystac.Link(pystac.RelType.PARENT, "../catalog.json", media_type=pystac.MediaType.JSON))
        name = f"items/{chip.name}.json"
        with open(self.dir / name, "w", encoding="utf-8") as out:
            json.dump(item.to_dict(include_self_link=False, transform_hrefs=False), out)
        link = pystac.Link(pystac.RelType.ITEM, f"./{name}", media_type=pystac.MediaType.GEOJSON)
        self.links.write(",\n" + json.dumps(link.to_dict(transform_href=False)))
        self.item_count += 1

    def close(self) -> str:
        """Write ``stac/catalog.json`` linking every item; returns its relative path."""
        self.links.close()
        catalog = pystac.Catalog(id=self.catalog_id, description=self.description)
        catalog.add_link(pystac.Link(pystac.RelType.ROOT, "./catalog.json", media_type=pystac.MediaType.JSON))
        head = catalog.to_dict(include_self_link=False, transform_hrefs=False)
        root_links = head.pop("links")
        with open(self.dir / "catalog.json", "w", encoding="utf-8") as out:
            out.write(json.dumps(head)[:-1] + ', "links": [')
            out.write(",\n".join(json.dumps(link) for link in root_links))
            with open(self.links_part, encoding="utf-8") as links:
                shutil.copyfileobj(links, out)
            out.write("]}\n")
        os.remove(self.links_part)
        return "stac/catalog.json"

    def discard(self) -> None:
        """Close the temporary links file of an export that stops before :meth:`close`."""
        self.links.close()
