"""Find similar: a prototype of the example polygons' embedding cells, similarity, peaks.

The image embedding of a window (``image_embed``, [256, 64, 64]) has one 256-vector per
cell of 16 x 16 window pixels (the 1024 frame / 64). Cell (i, j) (row i, column j) covers
window pixels x in [16 j, 16 j + 16), y in [16 i, 16 i + 16); its centre is
(16 j + 8, 16 i + 8).

- The prototype is the mean of the vectors of the cells whose centres lie inside the
  example polygons (each example in the window that holds it best), all cells of all
  examples weighing the same; an example too small to hold a cell centre contributes the
  cell under its representative point.
- The similarity of a cell is the cosine between its vector and the prototype.
- Peaks are cells that are the maximum of their (2r+1) x (2r+1) neighbourhood, at or above
  the threshold, taken best first, each suppressing the cells within ``r`` of it
  (Chebyshev distance) so one object gives one prompt.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import ndimage

CELLS = 64
CELL_PX = 16.0  # window pixels per cell side (1024 / 64)


def cell_centres() -> tuple[np.ndarray, np.ndarray]:
    """x [64, 64] and y [64, 64] of every cell centre, window pixels."""
    centres = (np.arange(CELLS) + 0.5) * CELL_PX
    return np.meshgrid(centres, centres)  # xs vary along columns, ys along rows


def cells_inside(polygon_window_px: shapely.Geometry, width: int, height: int) -> np.ndarray:
    """bool [64, 64]: the cells whose centres lie inside the polygon (window pixels) and the valid part.

    When no centre is inside, the cell holding the polygon's representative point.
    """
    xs, ys = cell_centres()
    inside = shapely.contains_xy(polygon_window_px, xs, ys) & (xs < width) & (ys < height)
    if not inside.any() and not polygon_window_px.is_empty:
        p = polygon_window_px.representative_point()
        col, row = int(p.x // CELL_PX), int(p.y // CELL_PX)
        if 0 <= row < CELLS and 0 <= col < CELLS:
            inside[row, col] = True
    return inside


def prototype(embeds: list[np.ndarray], cells: list[np.ndarray]) -> np.ndarray:
    """The mean embedding vector of the selected cells.

    Args:
        embeds: per example, its window's ``image_embed`` [256, 64, 64] (float).
        cells: per example, bool [64, 64] the cells it covers.
    Returns:
        [256] float64.
    Raises:
        ValueError: no cell is selected.
    """
    vectors = [np.asarray(e, dtype=np.float64)[:, c].T for e, c in zip(embeds, cells, strict=True)]
    stacked = np.concatenate(vectors, axis=0) if vectors else np.zeros((0, 256))
    if not len(stacked):
        raise ValueError("the examples cover no embedding cell")
    return stacked.mean(axis=0)


def similarity(embed: np.ndarray, proto: np.ndarray) -> np.ndarray:
    """Cosine similarity [64, 64] of every cell of ``embed`` [256, 64, 64] to ``proto`` [256]."""
    e = np.asarray(embed, dtype=np.float64)
    p = np.asarray(proto, dtype=np.float64)
    dots = np.tensordot(p, e, axes=(0, 0))
    norms = np.linalg.norm(e, axis=0) * np.linalg.norm(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(norms > 0, dots / norms, 0.0)
    return sim


def peaks(sim: np.ndarray, threshold: float, radius: int = 2, allowed: np.ndarray | None = None) -> np.ndarray:
    """Local maxima of ``sim`` [64, 64] at or above ``threshold``, with suppression.

    Args:
        radius: neighbourhood and suppression radius, cells.
        allowed: bool [64, 64] cells that may be peaks (valid pixels, inside the area), or None.
    Returns:
        [K, 3] rows of (row, col, similarity), best first.
    """
    s = np.where(allowed, sim, -np.inf) if allowed is not None else np.asarray(sim, dtype=np.float64)
    local_max = ndimage.maximum_filter(s, size=2 * radius + 1, mode="constant", cval=-np.inf) == s
    candidates = np.argwhere(local_max & (s >= threshold) & np.isfinite(s))
    order = np.argsort(-s[candidates[:, 0], candidates[:, 1]], kind="stable")
    chosen: list[tuple[int, int, float]] = []
    for row, col in candidates[order]:
        if all(max(abs(row - r), abs(col - c)) > radius for r, c, _ in chosen):
            chosen.append((int(row), int(col), float(s[row, col])))
    return np.array(chosen, dtype=np.float64).reshape(-1, 3)


def peak_points(found: np.ndarray) -> np.ndarray:
    """Peaks [K, 3] (row, col, similarity) → point prompts [K, 2] at their cell centres, window pixels (x, y)."""
    return np.column_stack([(found[:, 1] + 0.5) * CELL_PX, (found[:, 0] + 0.5) * CELL_PX]).reshape(-1, 2)
