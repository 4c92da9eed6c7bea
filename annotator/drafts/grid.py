"""Point prompts per window: SAM2's point grid, restricted to an area and to valid pixels.

Coordinates are window pixels (x, y) = (col, row) of the window's 1024 x 1024 frame at its
level (:mod:`annotator.sam2.windows`), float. The grid has ``points_per_side`` points per
1024 window pixels on each axis, at the centres of equal cells (SAM2's
``build_point_grid``, scaled to the frame); only points inside the window's valid size are
kept, so a padded window at a coarse level gets the same density, not more.
"""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine

from annotator.sam2.windows import WINDOW_SIZE


def point_grid(points_per_side: int, width: int, height: int, size: int = WINDOW_SIZE) -> np.ndarray:
    """The grid points inside a window's valid ``width`` x ``height`` pixels.

    Returns:
        [N, 2] float64 window pixels (x, y), row-major (y, then x), as SAM2 orders them.
    """
    offset = 1 / (2 * points_per_side)
    side = np.linspace(offset, 1 - offset, points_per_side) * size
    xs = np.tile(side[None, :], (points_per_side, 1))
    ys = np.tile(side[:, None], (1, points_per_side))
    points = np.stack([xs, ys], axis=-1).reshape(-1, 2)
    keep = (points[:, 0] < width) & (points[:, 1] < height)
    return points[keep]


def restrict(
    points: np.ndarray,
    valid: np.ndarray | None,
    area_px: shapely.Geometry | None,
    window_to_image: Affine,
) -> np.ndarray:
    """The points on valid pixels and inside the area.

    Args:
        points: [N, 2] window pixels (x, y).
        valid: bool [height, width] window pixels at the window's level (the COG's mask:
            False on nodata), or None when every pixel is valid.
        area_px: the area as a (Multi)Polygon in level-0 image pixels (col, row), or None.
        window_to_image: window pixel → level-0 image pixel affine.
    Returns:
        [M, 2] the kept points, in their order.
    """
    keep = np.ones(len(points), dtype=bool)
    if valid is not None and len(points):
        height, width = valid.shape
        cols = np.clip(points[:, 0].astype(np.intp), 0, width - 1)
        rows = np.clip(points[:, 1].astype(np.intp), 0, height - 1)
        keep &= valid[rows, cols]
    if area_px is not None and len(points):
        a, b, c, d, e, f = window_to_image[:6]
        x = a * points[:, 0] + b * points[:, 1] + c
        y = d * points[:, 0] + e * points[:, 1] + f
        keep &= shapely.contains_xy(area_px, x, y)
    return points[keep]
