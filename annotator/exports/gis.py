"""GIS files of the annotations: GeoJSON (RFC 7946), GeoPackage and zipped Shapefile.

Each file is written batch by batch (GeoJSON as text, the others with ``pyogrio.raw.write``
and ``append=True``), so memory holds one batch at a time. Attributes: ``ann_id``,
``image_id``, ``class_id``, ``class``, ``state``, ``author``, ``area_m2`` (geodesic, m²) and
the timestamps ``created``, ``updated``, ``submitted``, ``reviewed`` (ISO 8601, UTC).
GeoJSON features also carry ``source`` (sam, manual, import, auto, consensus) and
``provenance``: where a drafted (``auto``) or fused (``consensus``) annotation came from, as
an object (its run, model, checkpoint digest, untrained flag, level, window and figures),
null for the others.

The label attributes that annotators fill in (defined per label class) follow:

- GeoJSON and GeoPackage: one property / column ``attr_<name>`` per attribute name defined
  by any class of the project (class order, then definition order), typed as defined
  (number: real, boolean: boolean, text and choice: text; a name that two classes define
  with different types is text), empty (null) where the annotation has no value.
- Shapefile: one text column ``attributes`` holding the values as a JSON object: dBASE
  field names stop at 10 characters, which would cut and merge attribute names.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer

from annotator.exports.filters import AnnotationBatch
from annotator.models import Image, LabelClass

FIELDS = ["ann_id", "image_id", "class_id", "class", "state", "author", "area_m2"]
TIME_FIELDS = ["created", "updated", "submitted", "reviewed"]
OGR_DRIVERS = {"gpkg": "GPKG", "shapefile": "ESRI Shapefile"}
SHAPEFILE_ATTRIBUTES = "attributes"


@dataclass(frozen=True)
class AttributeColumn:
    """One label attribute as a column: ``name`` as defined, ``type`` text | number | boolean."""

    name: str
    type: str

    @property
    def field(self) -> str:
        return f"attr_{self.name}"

    def value(self, attributes: dict):
        """The annotation's value in this column's type (None where it has none)."""
        value = attributes.get(self.name)
        if value is None or self.type != "text":
            return value
        return value if isinstance(value, str) else json.dumps(value)


def attribute_columns(classes: Iterable[LabelClass]) -> list[AttributeColumn]:
    """The attribute columns of the classes' definitions, in class then definition order."""
    types: dict[str, str] = {}
    for label_class in classes:
        for definition in label_class.attributes or []:
            kind = "text" if definition["type"] == "choice" else definition["type"]
            types[definition["name"]] = kind if types.get(definition["name"], kind) == kind else "text"
    return [AttributeColumn(name, kind) for name, kind in types.items()]


def _attribute_data(batch: AnnotationBatch, columns: list[AttributeColumn]) -> tuple[list, list]:
    """(arrays, null masks) of the attribute columns of one batch, typed for OGR."""
    arrays, masks = [], []
    for column in columns:
        values = [column.value(a) for a in batch.attributes]
        missing = np.asarray([v is None for v in values], dtype=bool)
        if column.type == "number":
            array = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        elif column.type == "boolean":
            array = np.asarray([bool(v) for v in values], dtype=bool)
        else:
            array = np.empty(len(values), dtype=object)
            array[:] = values
        arrays.append(array)
        masks.append(missing)
    return arrays, masks


def image_crs(image: Image) -> CRS:
    """The image's own CRS (from its EPSG code when known, else its WKT)."""
    if image.epsg:
        return CRS.from_epsg(image.epsg)
    return CRS.from_wkt(image.crs_wkt)


def reproject(geometries: np.ndarray, crs: CRS) -> np.ndarray:
    """Shapely geometries in EPSG:4326 (lon, lat) → the same in ``crs`` (its x, y order)."""
    if crs.equals(CRS.from_epsg(4326)):
        return geometries
    transformer = Transformer.from_crs(4326, crs, always_xy=True)
    return shapely.transform(geometries, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _multi(geometries: np.ndarray) -> np.ndarray:
    """Every geometry as a MultiPolygon (stored ones already are; this guards reprojection)."""
    single = shapely.get_type_id(geometries) == shapely.GeometryType.POLYGON
    if single.any():
        geometries = geometries.copy()
        geometries[single] = shapely.multipolygons(shapely.get_parts(geometries[single])[:, None].tolist())
    return geometries


def _field_data(batch: AnnotationBatch) -> list[np.ndarray]:
    return [
        batch.ids,
        batch.image_ids,
        batch.class_ids,
        batch.class_names,
        batch.states,
        batch.authors,
        batch.areas_m2,
        *(batch.timestamps[name] for name in TIME_FIELDS),
    ]


class GeoJSONWriter:
    """A FeatureCollection (EPSG:4326, RFC 7946) written feature by feature."""

    def __init__(self, path: Path, attributes: list[AttributeColumn] | None = None):
        self.path = path
        self.attributes = attributes or []
        self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.file.write('{"type": "FeatureCollection", "features": [\n')
        self.count = 0

    def write(self, batch: AnnotationBatch) -> None:
        geometries = shapely.to_geojson(batch.geometries)
        columns = _field_data(batch)
        names = FIELDS + TIME_FIELDS
        for i, geometry in enumerate(geometries):
            properties = {name: _plain(column[i]) for name, column in zip(names, columns, strict=True)}
            properties["class_id"] = properties["class_id"] or None
            for column in self.attributes:
                properties[column.field] = column.value(batch.attributes[i])
            properties["source"] = batch.sources[i]
            properties["provenance"] = batch.provenance[i] or None
            if self.count:
                self.file.write(",\n")
            self.file.write(f'{{"type": "Feature", "id": {int(batch.ids[i])}, "properties": ')
            self.file.write(json.dumps(properties))
            self.file.write(', "geometry": ')
            self.file.write(geometry)
            self.file.write("}")
            self.count += 1

    def close(self) -> None:
        self.file.write("\n]}\n")
        self.file.close()


def _plain(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


class OGRLayerWriter:
    """One layer of a GeoPackage or Shapefile, appended to batch by batch with pyogrio.

    Geometries arrive in EPSG:4326 and are written in ``crs``.
    """

    def __init__(self, path: Path, driver: str, layer: str, crs: CRS, attributes: list[AttributeColumn] | None = None):
        self.path = path
        self.driver = driver
        self.layer = layer
        self.crs = crs
        self.attributes = attributes or []
        self.count = 0

    @property
    def field_names(self) -> list[str]:
        if self.driver == "ESRI Shapefile":
            return FIELDS + TIME_FIELDS + [SHAPEFILE_ATTRIBUTES]
        return FIELDS + TIME_FIELDS + [column.field for column in self.attributes]

    def _attribute_data(self, batch: AnnotationBatch) -> tuple[list, list]:
        if self.driver == "ESRI Shapefile":
            text = np.empty(len(batch), dtype=object)
            text[:] = [json.dumps(a, ensure_ascii=False) if a else None for a in batch.attributes]
            return [text], [np.asarray([not a for a in batch.attributes], dtype=bool)]
        return _attribute_data(batch, self.attributes)

    def write(self, batch: AnnotationBatch) -> None:
        geometries = _multi(reproject(batch.geometries, self.crs))
        arrays, masks = self._attribute_data(batch)
        self._write(shapely.to_wkb(geometries), _field_data(batch) + arrays, masks)

    def _write(self, wkb: np.ndarray, field_data: list[np.ndarray], attribute_masks: list[np.ndarray]) -> None:
        # Imported here: pyogrio brings geopandas and pandas (~90 MiB resident) into every web
        # process, which only queues exports.
        import pyogrio.raw

        base = len(FIELDS) + len(TIME_FIELDS)
        pyogrio.raw.write(
            str(self.path),
            wkb,
            field_data,
            self.field_names,
            field_mask=[None] * base + attribute_masks if attribute_masks else None,
            layer=self.layer,
            driver=self.driver,
            geometry_type="MultiPolygon",
            crs=self.crs.to_wkt(),
            encoding="UTF-8" if self.driver == "ESRI Shapefile" else None,
            append=self.count > 0 or (self.driver == "GPKG" and self.path.exists()),
        )
        self.count += len(wkb)

    def close(self) -> None:
        if self.count == 0:
            # An empty layer still says what it would hold.
            empty_text = np.empty(0, dtype=object)
            empty = [np.empty(0, dtype=np.int64)] * 3 + [empty_text] * 3 + [np.empty(0, dtype=np.float64)]
            arrays, masks = self._attribute_data(AnnotationBatch(*[np.empty(0, dtype=object)] * 7))
            self._write(np.empty(0, dtype=object), empty + [empty_text] * len(TIME_FIELDS) + arrays, masks)


def zip_folder(folder: Path, zip_path: Path) -> None:
    """Zip every file of ``folder`` (flat) into ``zip_path``."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(os.listdir(folder)):
            archive.write(folder / name, arcname=name)


def write_gis(
    formats: Iterable[str],
    out_dir: Path,
    batches: Callable[[int | None], Iterable[AnnotationBatch]],
    images: list[Image],
    crs_choice: str,
    attributes: list[AttributeColumn] | None = None,
) -> dict[str, str]:
    """Write the requested GIS formats into ``out_dir``; returns format → relative path.

    Args:
        formats: any of ``geojson``, ``gpkg``, ``shapefile``.
        out_dir: folder of the export (``gis/`` is created in it).
        batches: ``batches(image_id)`` iterates the selected annotations (of one image, or
            all for None) in batches, geometries in EPSG:4326.
        images: the images holding the selected annotations (for ``crs_choice="image"``).
        crs_choice: ``"4326"``: one layer ``annotations`` in EPSG:4326; ``"image"``: one
            layer ``image_<id>`` per image in that image's CRS (Shapefile: one .shp each).
        attributes: the label attribute columns (:func:`attribute_columns`), None for none.
    """
    formats = set(formats)
    gis_dir = out_dir / "gis"
    gis_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    if "geojson" in formats:
        writer = GeoJSONWriter(gis_dir / "annotations.geojson", attributes)
        try:
            for batch in batches(None):
                writer.write(batch)
        finally:
            writer.close()
        written["geojson"] = "gis/annotations.geojson"
    ogr = [f for f in ("gpkg", "shapefile") if f in formats]
    if not ogr:
        return written
    shp_dir = gis_dir / "shapefile"
    if "shapefile" in ogr:
        shp_dir.mkdir()
    targets = [(None, "annotations", CRS.from_epsg(4326))]
    if crs_choice == "image" and images:
        targets = [(image.pk, f"image_{image.pk}", image_crs(image)) for image in images]
    for image_id, layer, crs in targets:
        writers = []
        if "gpkg" in ogr:
            writers.append(OGRLayerWriter(gis_dir / "annotations.gpkg", "GPKG", layer, crs, attributes))
        if "shapefile" in ogr:
            writers.append(OGRLayerWriter(shp_dir / f"{layer}.shp", "ESRI Shapefile", layer, crs, attributes))
        for batch in batches(image_id):
            for writer in writers:
                writer.write(batch)
        for writer in writers:
            writer.close()
    if "gpkg" in ogr:
        written["gpkg"] = "gis/annotations.gpkg"
    if "shapefile" in ogr:
        zip_folder(shp_dir, gis_dir / "annotations_shp.zip")
        for name in os.listdir(shp_dir):
            os.remove(shp_dir / name)
        shp_dir.rmdir()
        written["shapefile"] = "gis/annotations_shp.zip"
    return written
