"""Semantic masks: one GeoTIFF of class ids per chip, aligned with the chip pixel for pixel.

Values: 0 background, the COCO category id (1..n) of the object covering the pixel centre
(smaller objects are burnt last so they stay visible), and the nodata value (255, or
65535 past 254 classes) where the image has no data or beyond its edge. The file carries
the image's CRS and the chip's geotransform.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from annotator.exports.chips import Chip
from annotator.exports.coco import ChipObject, polygons_of, rasterize


def mask_dtype(class_count: int) -> tuple[type, int]:
    """(dtype, nodata) able to hold ``class_count`` ids and the nodata value."""
    return (np.uint8, 255) if class_count < 255 else (np.uint16, 65535)


def mask_array(objects: list[ChipObject], valid: np.ndarray, size: int, class_count: int) -> np.ndarray:
    """Class ids [size, size] of one chip; ``valid`` [size, size] is where the image has data."""
    dtype, nodata = mask_dtype(class_count)
    shapes = []
    for obj in sorted(objects, key=lambda o: -o.geometry.area):
        shapes.extend((polygon, obj.category_id) for polygon in polygons_of(obj.geometry))
    mask = rasterize(shapes, size, dtype=dtype)
    mask[~valid] = nodata
    return mask


def write_mask(out_dir: Path, chip: Chip, mask: np.ndarray, crs_wkt: str, nodata: int) -> str:
    """Write ``masks/<split>/<chip>.tif``; returns its path relative to the export."""
    relative = f"masks/{chip.split}/{chip.name}.tif"
    path = out_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": chip.size,
        "height": chip.size,
        "count": 1,
        "dtype": mask.dtype.name,
        "nodata": nodata,
        "crs": crs_wkt or None,
        "transform": chip.transform,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(mask, 1)
    return relative
