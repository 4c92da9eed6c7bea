"""NoC, NoF and the mIoU curve of the model evaluation, on IoU sequences made by hand."""

from __future__ import annotations

import pytest

from annotator.quality.evaluation import clicks_to_reach, iou_after, summarise

SEQUENCES = [
    [0.5, 0.86, 0.91, 0.95, 0.95],  # NoC@85 2, NoC@90 3
    [0.9, 0.92, 0.93, 0.94, 0.95],  # 1, 1
    [0.1] * 20,  # never: 20, 20, a failure at 90 %
    [0.3, 0.6, 0.88],  # stopped after 3 clicks (nothing left to click) at 0.88: 3, 20, a failure
]


def test_clicks_to_reach_counts_the_first_click_at_or_above_the_threshold():
    assert clicks_to_reach([0.5, 0.85, 0.95], 0.85, 20) == 2
    assert clicks_to_reach([0.5, 0.85, 0.95], 0.90, 20) == 3
    assert clicks_to_reach([0.5, 0.6], 0.90, 20) == 20
    assert clicks_to_reach([0.1] * 5 + [0.95], 0.90, 5) == 5  # beyond the budget does not count


def test_a_sequence_that_stopped_early_keeps_its_last_iou():
    assert iou_after([0.3, 0.6, 0.88], 2) == 0.6
    assert iou_after([0.3, 0.6, 0.88], 5) == 0.88


def test_noc_nof_and_the_miou_curve_of_hand_made_sequences():
    figures = summarise(SEQUENCES, max_clicks=20)
    assert figures["objects"] == 4
    assert figures["noc85"] == pytest.approx((2 + 1 + 20 + 3) / 4)
    assert figures["noc90"] == pytest.approx((3 + 1 + 20 + 20) / 4)
    assert figures["nof90"] == 2
    assert figures["miou"] == pytest.approx([0.45, 0.62, 0.705, 0.7175, 0.72])


def test_no_objects_give_no_means():
    figures = summarise([], max_clicks=20)
    assert figures == {"objects": 0, "noc85": None, "noc90": None, "nof90": 0, "miou": [None] * 5}
