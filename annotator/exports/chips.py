"""Chips: a square grid over each image's COG, rendered as the annotator saw the image.

A chip is ``size`` x ``size`` pixels of the image at full resolution. Along each axis the
chips start every ``size - overlap`` pixels and the last one is shifted inward to end on
the image edge (the SAM2 window convention); an image shorter than a chip gets one chip,
padded with zeros beyond the image. Each chip records its affine transform (chip pixel
(col, row) → image CRS) and its footprint in EPSG:4326, so every pixel maps to the ground.

Rendering uses the image's band mapping and stretch with the same arithmetic as the map
tiles and the SAM2 encoder (rio-tiler's ``linear_rescale``), nodata/alpha/NaN → 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import rasterio
import shapely
from affine import Affine
from django.conf import settings
from pyproj import CRS, Transformer
from rasterio.windows import Window as RioWindow

from annotator.errors import InvalidInput
from annotator.exports.gis import image_crs
from annotator.imagery.ingest import stretch_to_uint8
from annotator.models import Image
from annotator.sam2.windows import axis_offsets

EDGE_POINTS = 8  # points per chip edge when a footprint is reprojected to EPSG:4326


@dataclass(slots=True)
class Chip:
    """One chip of one image. Offsets and size are image pixels (level 0).

    Every chip of an export is planned before the first is written (the splits need them
    all): slots keep each one small (about 1.7 KB with its footprint).
    """

    image_id: int
    col_off: int
    row_off: int
    size: int
    grid_col: int  # index of the chip along x in its image's grid
    grid_row: int
    transform: Affine  # chip pixel (col, row) → image CRS
    footprint: shapely.Polygon  # EPSG:4326 (lon, lat)
    split: str = ""
    guard: bool = False  # left out of the dataset: it shares ground with a chip of another split

    @property
    def name(self) -> str:
        """File stem unique in the export: ``img7_r1024_c2048``."""
        return f"img{self.image_id}_r{self.row_off}_c{self.col_off}"

    @property
    def geotransform(self) -> list[float]:
        """GDAL order: c, a, b, f, d, e."""
        return list(self.transform.to_gdal())

    @property
    def pixel_box(self) -> tuple[int, int, int, int]:
        """(col_min, row_min, col_max, row_max) in image pixels."""
        return self.col_off, self.row_off, self.col_off + self.size, self.row_off + self.size


def image_affine(image: Image) -> Affine:
    """The image's pixel (col, row) → image CRS transform."""
    return Affine.from_gdal(*image.geotransform)


def pixel_rect_4326(image: Image, box: tuple[float, float, float, float], to_4326: Transformer) -> shapely.Polygon:
    """The ground footprint (EPSG:4326) of a pixel rectangle, edges densified before reprojection."""
    c0, r0, c1, r1 = box
    t = np.linspace(0.0, 1.0, EDGE_POINTS, endpoint=False)
    cols = np.concatenate([c0 + (c1 - c0) * t, np.full_like(t, c1), c1 - (c1 - c0) * t, np.full_like(t, c0)])
    rows = np.concatenate([np.full_like(t, r0), r0 + (r1 - r0) * t, np.full_like(t, r1), r1 - (r1 - r0) * t])
    xs, ys = image_affine(image) @ (cols, rows)
    lon, lat = to_4326.transform(xs, ys)
    return shapely.Polygon(np.column_stack([lon, lat]))


def grid_chip_count(width: int, height: int, size: int, overlap: int) -> int:
    """Chips in the grid of a ``width`` x ``height`` px image (guard chips included), without planning them."""
    stride = size - overlap
    return len(axis_offsets(width, size, stride)) * len(axis_offsets(height, size, stride))


def check_chip_limit(images: Iterable[Image], size: int, overlap: int) -> int:
    """The chips an export of ``images`` would cut, from the images' sizes alone (no pixel read).

    Args:
        images: the images holding the exported annotations (``width``, ``height`` in px).
        size: chip edge in pixels.
        overlap: pixels shared by neighbouring chips.
    Returns:
        the chip count, at most ``settings.EXPORT_MAX_CHIPS``.
    Raises:
        InvalidInput: more chips than ``settings.EXPORT_MAX_CHIPS``; the message gives both figures.
    """
    images = list(images)
    count = sum(grid_chip_count(image.width or 0, image.height or 0, size, overlap) for image in images)
    limit = settings.EXPORT_MAX_CHIPS
    if count > limit:
        raise InvalidInput(
            f"This export would cut {count:,} chips of {size} px (overlap {overlap} px) from "
            f"{len(images)} image(s); the limit is {limit:,} chips per export. Use a larger chip_size "
            f"or a smaller chip_overlap, or export fewer images.",
            field="chip_size",
            extra={"chips": count, "limit": limit},
        )
    return count


def plan_chips(image: Image, size: int, overlap: int) -> list[Chip]:
    """The chip grid of an ingested image, row by row.

    Args:
        image: a ready image (width, height, geotransform, CRS).
        size: chip edge in pixels.
        overlap: pixels shared by neighbouring chips, 0 ≤ overlap < size.
    """
    stride = size - overlap
    affine = image_affine(image)
    to_4326 = Transformer.from_crs(image_crs(image), CRS.from_epsg(4326), always_xy=True)
    chips = []
    for grid_row, row_off in enumerate(axis_offsets(image.height, size, stride)):
        for grid_col, col_off in enumerate(axis_offsets(image.width, size, stride)):
            box = (col_off, row_off, col_off + size, row_off + size)
            chips.append(
                Chip(
                    image_id=image.pk,
                    col_off=col_off,
                    row_off=row_off,
                    size=size,
                    grid_col=grid_col,
                    grid_row=grid_row,
                    transform=affine @ Affine.translation(col_off, row_off),
                    footprint=pixel_rect_4326(image, box, to_4326),
                )
            )
    return chips


def chip_rows(chips: list[Chip]) -> Iterator[list[Chip]]:
    """Chips of one image grouped by grid row (chips must be in plan order)."""
    row: list[Chip] = []
    for chip in chips:
        if row and chip.grid_row != row[0].grid_row:
            yield row
            row = []
        row.append(chip)
    if row:
        yield row


class PixelMapper:
    """EPSG:4326 geometries → image pixel (col, row) coordinates, in floating point."""

    def __init__(self, image: Image):
        self.inverse = ~image_affine(image)
        self.to_image = Transformer.from_crs(CRS.from_epsg(4326), image_crs(image), always_xy=True)

    def __call__(self, geometries: np.ndarray) -> np.ndarray:
        a, b, c, d, e, f = self.inverse[:6]

        def apply(xy: np.ndarray) -> np.ndarray:
            x, y = self.to_image.transform(xy[:, 0], xy[:, 1])
            x, y = np.asarray(x), np.asarray(y)
            return np.column_stack([a * x + b * y + c, d * x + e * y + f])

        return shapely.transform(geometries, apply)


def read_chip(src: rasterio.io.DatasetReader, image: Image, chip: Chip) -> tuple[np.ndarray, np.ndarray]:
    """Render one chip.

    Returns:
        ``rgb`` uint8 [size, size, 3] (zeros beyond the image and where it has no data) and
        ``valid`` bool [size, size] (true where the image has data).
    """
    width = min(chip.size, image.width - chip.col_off)
    height = min(chip.size, image.height - chip.row_off)
    region = RioWindow(chip.col_off, chip.row_off, width, height)
    bands = src.read(image.band_mapping, window=region)
    valid = src.dataset_mask(window=region) > 0
    if np.issubdtype(bands.dtype, np.floating):
        valid &= np.isfinite(bands).all(axis=0)
    rgb = np.zeros((chip.size, chip.size, 3), dtype=np.uint8)
    full_valid = np.zeros((chip.size, chip.size), dtype=bool)
    rgb[:height, :width] = stretch_to_uint8(bands, valid, image.stretch)
    full_valid[:height, :width] = valid
    return rgb, full_valid
