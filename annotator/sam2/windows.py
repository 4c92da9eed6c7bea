"""The window plan: which 1024 x 1024 windows, at which levels, SAM2 encodes for an image.

Level 0 is the image at native resolution; level k is the image downsampled by 2**k
(``ceil(width / 2**k)`` x ``ceil(height / 2**k)`` pixels). Levels are added until one
window covers the whole level. At each level, windows start every ``stride`` pixels and
the last one on each axis is shifted inward so it ends on the level's edge; a level
smaller than a window on an axis has one window there, padded (never stretched) with the
true size kept in ``width``/``height``.

Pixel coordinates are (col, row) = (x, y). A window's ``transform`` maps (col, row) in the
window's own 1024 x 1024 pixel grid at its level to the image CRS (float, no flooring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine

WINDOW_SIZE = 1024
# SAM2's low-resolution mask logits: LOW_RES x LOW_RES cells over a window's 1024 x 1024 frame.
LOW_RES = 256
# Bytes of fp16 features per window: image_embed 256x64x64 + high_res_feats 32x256x256 and 64x128x128.
FEATURE_BYTES_PER_WINDOW = 2 * (256 * 64 * 64 + 32 * 256 * 256 + 64 * 128 * 128)


@dataclass(frozen=True)
class Window:
    """One encoder window.

    Attributes:
        level: pyramid level (0 = native resolution, k = downsampled by 2**k).
        col_off, row_off: offset of the window at its level, in level pixels.
        width, height: valid (non-padding) pixels of the window at its level, at most 1024.
        src_col_off, src_row_off, src_width, src_height: the same region in level-0 pixels.
        transform: window pixel (col, row) → image CRS coordinates.
    """

    level: int
    col_off: int
    row_off: int
    width: int
    height: int
    src_col_off: int
    src_row_off: int
    src_width: int
    src_height: int
    transform: Affine

    @property
    def key(self) -> str:
        """A name unique within one plan, used in storage keys: ``L1_r768_c0``."""
        return window_key(self.level, self.row_off, self.col_off)

    @property
    def scale(self) -> tuple[float, float]:
        """Level-0 pixels per window pixel along x and y (2**level except at a ragged edge)."""
        return self.src_width / self.width, self.src_height / self.height

    def contains_pixel(self, col: float, row: float, margin: float = 0.0) -> bool:
        """Whether window pixel (col, row) lies in the valid part, ``margin`` pixels inside."""
        return margin <= col <= self.width - margin and margin <= row <= self.height - margin


def window_key(level: int, row_off: int, col_off: int) -> str:
    """The name of the window at ``level`` starting at (``col_off``, ``row_off``) level pixels: ``L1_r768_c0``."""
    return f"L{level}_r{row_off}_c{col_off}"


def level_shape(width: int, height: int, level: int) -> tuple[int, int]:
    """(width, height) in pixels of ``level`` for an image of ``width`` x ``height``."""
    factor = 2**level
    return max(1, math.ceil(width / factor)), max(1, math.ceil(height / factor))


def level_count(width: int, height: int, size: int = WINDOW_SIZE) -> int:
    """Number of levels: level ``n - 1`` is the first whose longer side fits in one window."""
    if width < 1 or height < 1:
        raise ValueError(f"an image must have at least one pixel, got {width} x {height}")
    levels = 1
    while max(level_shape(width, height, levels - 1)) > size:
        levels += 1
    return levels


def axis_offsets(length: int, size: int = WINDOW_SIZE, stride: int = 768) -> list[int]:
    """Window starts along one axis of ``length`` pixels; the last is shifted inward to end on the edge."""
    if not 1 <= stride <= size:
        raise ValueError(f"the window stride must be between 1 and {size}, got {stride}")
    if length <= size:
        return [0]
    offsets = list(range(0, length - size, stride))
    offsets.append(length - size)
    return offsets


def plan_windows(
    width: int, height: int, transform: Affine, size: int = WINDOW_SIZE, stride: int = 768
) -> list[Window]:
    """Every window of every level for an image of ``width`` x ``height`` level-0 pixels.

    Args:
        width, height: image size in pixels.
        transform: the image's affine transform, pixel (col, row) → image CRS.
        size: window side in pixels (SAM2's input size, 1024).
        stride: distance between window starts at each level, at most ``size``.
    Returns:
        Windows ordered by level, then row, then column.
    """
    windows = []
    for level in range(level_count(width, height, size)):
        level_w, level_h = level_shape(width, height, level)
        for row_off in axis_offsets(level_h, size, stride):
            for col_off in axis_offsets(level_w, size, stride):
                windows.append(_window(width, height, transform, level, col_off, row_off, size))
    return windows


def windows_holding(
    width: int,
    height: int,
    transform: Affine,
    bounds: tuple[float, float, float, float],
    size: int = WINDOW_SIZE,
    stride: int = 768,
    slack: float = 1.0,
) -> list[Window]:
    """The windows of :func:`plan_windows` whose area holds the rectangle ``bounds``, by arithmetic.

    Only the windows that hold the rectangle are built (a few per level), not the whole
    plan: at 40,000 x 40,000 px that is a dozen or two windows instead of 3,612.

    Args:
        width, height: image size in pixels.
        transform: the image's affine transform, pixel (col, row) → image CRS.
        bounds: (col_min, row_min, col_max, row_max) in level-0 image pixels, float.
        size, stride: as for :func:`plan_windows`.
        slack: level-0 pixels by which a window may miss the rectangle and still be
            returned, so that float rounding never drops a window that holds it.
    Returns:
        Windows ordered by level, then row, then column; at each level every pairing of
        a row offset and a column offset that holds the rectangle on its own axis.
    """
    col_min, row_min, col_max, row_max = bounds
    windows = []
    for level in range(level_count(width, height, size)):
        level_w, level_h = level_shape(width, height, level)
        rows = _offsets_holding(level_h, height, level, row_min, row_max, size, stride, slack)
        cols = _offsets_holding(level_w, width, level, col_min, col_max, size, stride, slack)
        windows.extend(_window(width, height, transform, level, c, r, size) for r in rows for c in cols)
    return windows


def windows_intersecting(
    width: int,
    height: int,
    transform: Affine,
    bounds: tuple[float, float, float, float],
    levels: range | None = None,
    size: int = WINDOW_SIZE,
    stride: int = 768,
) -> list[Window]:
    """The windows of :func:`plan_windows` that overlap the rectangle ``bounds``, by arithmetic.

    Args:
        width, height, transform, size, stride: as for :func:`plan_windows`.
        bounds: (col_min, row_min, col_max, row_max) in level-0 image pixels, float.
        levels: the levels to look at (every level by default).
    Returns:
        Windows ordered by level, then row, then column.
    """
    col_min, row_min, col_max, row_max = bounds
    count = level_count(width, height, size)
    windows = []
    for level in levels if levels is not None else range(count):
        if not 0 <= level < count:
            continue
        level_w, level_h = level_shape(width, height, level)
        rows = _offsets_overlapping(level_h, height, level, row_min, row_max, size, stride)
        cols = _offsets_overlapping(level_w, width, level, col_min, col_max, size, stride)
        windows.extend(_window(width, height, transform, level, c, r, size) for r in rows for c in cols)
    return windows


def _offsets_overlapping(
    level_length: int, length: int, level: int, low: float, high: float, size: int, stride: int
) -> list[int]:
    """Window starts (level pixels) along one axis whose level-0 span overlaps [low, high] (level-0 pixels)."""
    factor = 2**level
    span = min(size, level_length) * factor
    return [
        offset
        for offset in axis_offsets(level_length, size, stride)
        if offset * factor <= high and low <= min(offset * factor + span, length)
    ]


def _offsets_holding(
    level_length: int, length: int, level: int, low: float, high: float, size: int, stride: int, slack: float
) -> list[int]:
    """Window starts (level pixels) along one axis whose level-0 span holds [low, high] (level-0 pixels)."""
    factor = 2**level
    span = min(size, level_length) * factor
    return [
        offset
        for offset in axis_offsets(level_length, size, stride)
        if offset * factor - slack <= low and high <= min(offset * factor + span, length) + slack
    ]


def _window(width: int, height: int, transform: Affine, level: int, col_off: int, row_off: int, size: int) -> Window:
    """The window at (col_off, row_off) of ``level``, with its level-0 region and transform."""
    factor = 2**level
    level_w, level_h = level_shape(width, height, level)
    win_w, win_h = min(size, level_w), min(size, level_h)
    src_col, src_row = col_off * factor, row_off * factor
    # The last level pixel may cover less than 2**level source pixels.
    src_w = min(win_w * factor, width - src_col)
    src_h = min(win_h * factor, height - src_row)
    window_transform = transform @ Affine.translation(src_col, src_row) @ Affine.scale(src_w / win_w, src_h / win_h)
    return Window(level, col_off, row_off, win_w, win_h, src_col, src_row, src_w, src_h, window_transform)


def estimated_feature_bytes(width: int, height: int, stride: int = 768) -> int:
    """Bytes the fp16 features of every window of an image will take (windows x 8 MiB)."""
    return len(plan_windows(width, height, Affine.identity(), stride=stride)) * FEATURE_BYTES_PER_WINDOW
