"""The simulated annotator of the model evaluation, against next clicks computed by hand on small masks.

Masks are bool [rows, cols]; a click is (col, row). Distances are Euclidean, to the nearest
pixel outside the error region, the mask's border counting as outside (RITM pads the image).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from annotator.quality.evaluation import Click, iou, next_click


def mask(shape: tuple[int, int], *blocks: tuple[int, int, int, int]) -> np.ndarray:
    """A bool mask with the blocks (row0, row1, col0, col1), ends excluded, set."""
    m = np.zeros(shape, dtype=bool)
    for r0, r1, c0, c1 in blocks:
        m[r0:r1, c0:c1] = True
    return m


def nothing(shape: tuple[int, int]) -> np.ndarray:
    return np.zeros(shape, dtype=bool)


def test_the_first_click_is_positive_at_the_centre_of_the_object():
    truth = mask((5, 5), (1, 4, 1, 4))  # 3 x 3 square: its centre is 2 px from the outside
    assert next_click(truth, nothing((5, 5)), nothing((5, 5))) == Click(col=2, row=2, positive=True)


def test_the_click_is_sent_at_the_centre_of_its_pixel():
    assert Click(col=2, row=7, positive=True).point == (2.5, 7.5)


def test_equally_distant_pixels_give_the_first_in_row_major_order():
    truth = mask((3, 6), (1, 2, 1, 5))  # a line 1 px wide: every pixel is 1 px from the outside
    assert next_click(truth, nothing((3, 6)), nothing((3, 6))) == Click(col=1, row=1, positive=True)
    column = mask((6, 3), (1, 5, 1, 2))
    assert next_click(column, nothing((6, 3)), nothing((6, 3))) == Click(col=1, row=1, positive=True)


def test_a_clicked_pixel_is_never_clicked_again():
    truth = mask((5, 5), (1, 4, 1, 4))
    clicked = nothing((5, 5))
    clicked[2, 2] = True  # the centre: the rest of the square is 1 px from the outside
    assert next_click(truth, nothing((5, 5)), clicked) == Click(col=1, row=1, positive=True)
    clicked[1, 1] = True
    assert next_click(truth, nothing((5, 5)), clicked) == Click(col=2, row=1, positive=True)


def test_a_false_positive_region_larger_than_the_false_negatives_gives_a_negative_click():
    truth = mask((7, 9), (2, 3, 1, 2))  # one missed pixel: 1 px
    prediction = mask((7, 9), (1, 6, 3, 8))  # 5 x 5 false positive: centre (row 3, col 5) is 3 px inside
    assert next_click(truth, prediction, nothing((7, 9))) == Click(col=5, row=3, positive=False)


def test_the_larger_false_negative_region_wins():
    truth = mask((9, 12), (1, 8, 1, 8))  # 7 x 7: its centre (4, 4) is 4 px from the outside
    prediction = mask((9, 12), (3, 6, 8, 11))  # 3 x 3 false positive: 2 px
    assert next_click(truth, prediction, nothing((9, 12))) == Click(col=4, row=4, positive=True)


def test_equal_false_negative_and_false_positive_distances_give_a_negative_click():
    # RITM's rule: positive only when the false-negative maximum is strictly larger.
    truth = mask((5, 10), (1, 4, 1, 4))
    prediction = mask((5, 10), (1, 4, 6, 9))
    assert next_click(truth, prediction, nothing((5, 10))) == Click(col=7, row=2, positive=False)


def test_the_mask_border_counts_as_outside_the_error_region():
    truth = np.ones((3, 3), dtype=bool)  # the whole window: the centre is 2 px from the border
    assert next_click(truth, nothing((3, 3)), nothing((3, 3))) == Click(col=1, row=1, positive=True)
    wide = np.ones((4, 7), dtype=bool)  # rows 1 and 2 are both 2 px from the border: row 1 first
    assert next_click(wide, nothing((4, 7)), nothing((4, 7))) == Click(col=1, row=1, positive=True)


def test_the_distance_is_measured_inside_the_region_not_across_other_errors():
    # A false negative (cols 0-3) touching a false positive (cols 4-7), both 5 rows high: the
    # other region counts as outside, so each reaches 2 px (rows 1-3 of its two middle columns),
    # a tie: negative, at the first of them in row order.
    truth = mask((5, 8), (0, 5, 0, 4))
    prediction = mask((5, 8), (0, 5, 4, 8))
    assert next_click(truth, prediction, nothing((5, 8))) == Click(col=5, row=1, positive=False)


def test_nothing_is_clicked_when_the_mask_is_right_or_every_error_pixel_was_clicked():
    truth = mask((5, 5), (1, 4, 1, 4))
    assert next_click(truth, truth.copy(), nothing((5, 5))) is None
    one = mask((5, 5), (2, 3, 2, 3))
    clicked = one.copy()
    assert next_click(one, nothing((5, 5)), clicked) is None


@pytest.mark.parametrize("seed", range(6))
def test_the_cropped_distance_transform_equals_the_whole_mask_one(seed):
    rng = np.random.default_rng(seed)
    shape = (40, 57)
    truth = np.zeros(shape, dtype=bool)
    prediction = np.zeros(shape, dtype=bool)
    truth[rng.integers(0, 20) : rng.integers(21, 40), rng.integers(0, 28) : rng.integers(29, 57)] = True
    prediction[rng.integers(0, 20) : rng.integers(21, 40), rng.integers(0, 28) : rng.integers(29, 57)] = True
    clicked = rng.random(shape) < 0.02
    fn = distance_transform_edt(np.pad(truth & ~prediction, 1))[1:-1, 1:-1]
    fp = distance_transform_edt(np.pad(~truth & prediction, 1))[1:-1, 1:-1]
    fn[clicked] = 0
    fp[clicked] = 0
    positive = fn.max() > fp.max()
    chosen = fn if positive else fp
    row, col = np.unravel_index(np.argmax(chosen), shape)
    expected = None if chosen.max() == 0 else Click(int(col), int(row), bool(positive))
    assert next_click(truth, prediction, clicked) == expected


def test_iou_of_masks():
    a = mask((4, 4), (0, 2, 0, 2))
    b = mask((4, 4), (0, 2, 1, 3))
    assert iou(a, b) == pytest.approx(2 / 6)
    assert iou(nothing((4, 4)), nothing((4, 4))) == 1.0
    assert iou(a, nothing((4, 4))) == 0.0
