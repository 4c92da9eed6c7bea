"""Helpers for the export tests: annotations drawn in an image's pixel space, approved.

Polygons are given in image pixel coordinates (col, row), turned into EPSG:4326 with the
image's own geotransform and CRS (independently of the export code), and brought to the
wanted state through the real annotation and review services.
"""

from __future__ import annotations

import json

import numpy as np
import shapely
import shapely.affinity
from affine import Affine
from pyproj import CRS, Transformer
from rasterio import features

NAIP = "naip_rgbn_utm14_2020.tif"  # 934 x 723 px, EPSG:26914, 5 m, nodata 0


def pixel_to_4326(image, geometry: shapely.Geometry) -> shapely.Geometry:
    """A geometry in image pixel (col, row) coordinates → EPSG:4326 (lon, lat)."""
    affine = Affine.from_gdal(*image.geotransform)
    to_4326 = Transformer.from_crs(CRS.from_wkt(image.crs_wkt), CRS.from_epsg(4326), always_xy=True)

    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = affine @ (xy[:, 0], xy[:, 1])
        lon, lat = to_4326.transform(x, y)
        return np.column_stack([lon, lat])

    return shapely.transform(geometry, apply)


def blob(cx: float, cy: float, radius: float, vertices: int = 9, seed: int = 0) -> shapely.Polygon:
    """An irregular convex-ish polygon in pixel space around (cx, cy), ``radius`` px."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
    radii = radius * rng.uniform(0.7, 1.0, vertices)
    return shapely.Polygon(np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)]))


def approved(image, cast, pixel_polygon: shapely.Geometry, label_class=None, state: str = "approved"):
    """Create an annotation from a pixel-space polygon and bring it to ``state``."""
    from annotator.workflow import annotations, review

    geojson = json.loads(shapely.to_geojson(pixel_to_4326(image, pixel_polygon)))
    annotation = annotations.create_annotation(
        image, cast.annotator, geojson, label_class_id=label_class.pk if label_class else None
    )
    if state in ("submitted", "approved"):
        annotation = review.transition(annotation.pk, "submit", cast.annotator)
    if state == "approved":
        annotation = review.transition(annotation.pk, "approve", cast.reviewer)
    return annotation


def burn(geometry: shapely.Geometry, size: int, col_off: int = 0, row_off: int = 0) -> np.ndarray:
    """Rasterise a pixel-space geometry on the chip grid at (col_off, row_off): bool [size, size]."""
    local = shapely.affinity.translate(geometry, -col_off, -row_off)
    return features.rasterize([(local, 1)], out_shape=(size, size), fill=0, dtype=np.uint8).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def build_sync(project, user, formats, filters=None, options=None):
    """Create an export and build it in this process (the Job row is run as the task would)."""
    from annotator.exports import create_export
    from annotator.exports.build import build_export
    from annotator.models import Export

    export = create_export(project, user, formats, filters, options)
    export = Export.objects.select_related("project", "created_by").get(pk=export.pk)
    return build_export(export)


def unzip(export, into) -> None:
    """Extract the export's archive from storage into the folder ``into``."""
    import zipfile

    from annotator.storage import get_storage

    with get_storage().open_read(export.archive_key) as stream, zipfile.ZipFile(stream) as archive:
        archive.extractall(into)


def read_layer(path, layer: str | None = None) -> tuple[CRS, dict[str, np.ndarray], np.ndarray]:
    """Read a vector layer with pyogrio: (CRS, field name → values, shapely geometries)."""
    import pyogrio.raw

    meta, _fids, wkb, field_data = pyogrio.raw.read(str(path), layer=layer)
    fields = dict(zip(meta["fields"].tolist(), field_data, strict=True))
    return CRS.from_user_input(meta["crs"]), fields, shapely.from_wkb(wkb)
