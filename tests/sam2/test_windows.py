"""The window plan: coverage, inward-shifted edges, padding, levels, transforms."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from annotator.sam2.windows import (
    FEATURE_BYTES_PER_WINDOW,
    WINDOW_SIZE,
    axis_offsets,
    estimated_feature_bytes,
    level_count,
    level_shape,
    plan_windows,
    windows_holding,
)

UTM = Affine(5.0, 0.0, 500_000.0, 0.0, -5.0, 5_300_000.0)


def coverage(windows, width, height, level=0):
    covered = np.zeros((height, width), dtype=bool)
    for w in windows:
        if w.level == level:
            covered[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] = True
    return covered


@pytest.mark.parametrize(
    ("width", "height"),
    [(1400, 1100), (1024, 1024), (1, 1), (20000, 300), (300, 20000), (1025, 3000), (2048, 2048), (5000, 4097)],
)
def test_every_pixel_lies_in_a_level_0_window_and_windows_stay_inside(width, height):
    windows = plan_windows(width, height, UTM)
    assert coverage(windows, width, height).all()
    for level in range(level_count(width, height)):
        level_w, level_h = level_shape(width, height, level)
        assert coverage(windows, level_w, level_h, level).all()
        for w in (w for w in windows if w.level == level):
            assert w.col_off >= 0 and w.col_off + w.width <= level_w
            assert w.row_off >= 0 and w.row_off + w.height <= level_h
            assert w.width == min(WINDOW_SIZE, level_w) and w.height == min(WINDOW_SIZE, level_h)
            assert w.src_col_off + w.src_width <= width and w.src_row_off + w.src_height <= height
    keys = [w.key for w in windows]
    assert len(keys) == len(set(keys))


def test_levels_are_added_until_one_window_covers_the_image():
    assert level_count(1, 1) == 1
    assert level_count(1024, 1024) == 1
    assert level_count(1025, 10) == 2
    assert level_count(1400, 1100) == 2
    assert level_count(20000, 300) == 6  # 20000 / 32 = 625
    windows = plan_windows(20000, 300, UTM)
    top = [w for w in windows if w.level == 5]
    assert len(top) == 1 and (top[0].width, top[0].height) == (625, 10)
    assert [w for w in windows if w.level == 4] != []


def test_edge_windows_are_shifted_inward_with_the_configured_stride():
    assert axis_offsets(1400, stride=768) == [0, 376]
    assert axis_offsets(1024) == [0]
    assert axis_offsets(3000, stride=768) == [0, 768, 1536, 1976]
    assert axis_offsets(3000, stride=1024) == [0, 1024, 1976]
    with pytest.raises(ValueError):
        axis_offsets(3000, stride=1025)


def test_a_small_image_is_padded_not_stretched_and_keeps_its_true_size():
    (window,) = plan_windows(1, 1, UTM)
    assert (window.width, window.height) == (1, 1)
    assert window.transform == UTM
    (window,) = plan_windows(934, 723, UTM)
    assert (window.width, window.height, window.scale) == (934, 723, (1.0, 1.0))


def test_an_image_of_exactly_one_window_has_one_window_at_one_level():
    windows = plan_windows(1024, 1024, UTM)
    assert len(windows) == 1
    assert (windows[0].level, windows[0].width, windows[0].height) == (0, 1024, 1024)


def test_each_window_maps_its_pixels_to_the_image_crs():
    windows = plan_windows(1400, 1100, UTM)
    for w in windows:
        # The window's pixel (0, 0) is the image pixel (src_col_off, src_row_off).
        assert w.transform @ (0, 0) == pytest.approx(UTM @ (w.src_col_off, w.src_row_off))
        # Its far valid corner is the far corner of the source region.
        far = w.transform @ (w.width, w.height)
        assert far == pytest.approx(UTM @ (w.src_col_off + w.src_width, w.src_row_off + w.src_height))
    level1 = next(w for w in windows if w.level == 1)
    assert (level1.width, level1.height) == (700, 550)
    assert level1.transform.a == pytest.approx(10.0) and level1.transform.e == pytest.approx(-10.0)


def test_a_ragged_level_edge_uses_the_exact_source_extent():
    (w,) = [w for w in plan_windows(1401, 1101, UTM) if w.level == 1]
    assert (w.width, w.height) == (701, 551)
    assert w.scale == pytest.approx((1401 / 701, 1101 / 551))


def test_estimated_storage_is_8_mib_per_window():
    assert FEATURE_BYTES_PER_WINDOW == 8 * 2**20
    assert estimated_feature_bytes(1400, 1100) == 5 * 8 * 2**20


def _holds(window, bounds, slack):
    """Whether a planned window's level-0 region holds ``bounds`` (col0, row0, col1, row1), with ``slack`` px."""
    col0, row0, col1, row1 = bounds
    return (
        window.src_col_off - slack <= col0
        and col1 <= window.src_col_off + window.src_width + slack
        and window.src_row_off - slack <= row0
        and row1 <= window.src_row_off + window.src_height + slack
    )


@pytest.mark.parametrize(("width", "height"), [(40_000, 40_000), (1400, 1100), (5000, 4097), (20000, 300), (700, 500)])
def test_the_windows_holding_a_rectangle_are_those_of_the_plan_that_hold_it(width, height):
    plan = plan_windows(width, height, UTM)
    rng = np.random.default_rng(width + height)
    for _ in range(40):
        col0, row0 = rng.uniform(0, width), rng.uniform(0, height)
        col1 = min(width, col0 + rng.choice([0.0, 3.3, 500.0, 2000.0]))
        row1 = min(height, row0 + rng.choice([0.0, 7.9, 700.0, 3000.0]))
        bounds = (col0, row0, col1, row1)
        exact = windows_holding(width, height, UTM, bounds, slack=0.0)
        assert exact == [w for w in plan if _holds(w, bounds, 0.0)]
        assert windows_holding(width, height, UTM, bounds) == [w for w in plan if _holds(w, bounds, 1.0)]
        assert exact and exact[-1].level == len({w.level for w in plan}) - 1  # the top level holds everything
