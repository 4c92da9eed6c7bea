"""The seam and level merge on synthetic masks: windows 1024 px wide at columns 0 and 776 of an
image 1800 x 1024 px (level 0), and the one level-1 window (900 x 512) that holds it all."""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine

from annotator.drafts import filters, merge

WIDTH, HEIGHT = 1800, 1024
LEFT = (0, Affine.translation(0, 0), (False, False, True, False))  # col_off, window → image, cut edges
RIGHT = (776, Affine.translation(776, 0), (True, False, False, False))


def candidate(rect_px, window, level: int = 0, iou: float = 0.9, draft_id=None) -> merge.Candidate | None:
    """The candidate a window's mask of the image rectangle ``rect_px`` (col0, row0, col1, row1) gives."""
    col_off, to_image, cut = window
    scale = 2**level
    width, height = (1024, 1024) if level == 0 else (WIDTH // scale, HEIGHT // scale)
    mask = np.zeros((height, width), dtype=bool)
    c0, r0, c1, r1 = rect_px
    first, last = max(c0 - col_off, 0) // scale, max(min(c1 - col_off, width * scale), 0) // scale
    mask[r0 // scale : r1 // scale, first:last] = True
    if not mask.any():
        return None
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = np.array([[cols[0], rows[0], cols[-1], rows[-1]]])
    return merge.Candidate(
        polygon=merge.mask_polygon(mask, to_image),
        predicted_iou=iou,
        stability=0.97,
        level=level,
        window=(col_off // scale, 0, width, height),
        touches_window_edge=bool(filters.near_cut_edges(box, width, height, cut)[0]),
        draft_id=draft_id,
    )


LEVEL1 = (0, Affine.scale(2), (False, False, False, False))


def test_an_object_straddling_a_level_0_seam_comes_out_as_one_polygon():
    rect = (600, 300, 1200, 500)  # wider than the windows' 248 px overlap: cut in both
    left, right = candidate(rect, LEFT), candidate(rect, RIGHT)
    assert left.touches_window_edge and right.touches_window_edge

    kept = merge.merge_windows([[left], [right]], iou_threshold=0.7)

    assert len(kept) == 1
    assert kept[0].polygon.geom_type == "Polygon"
    assert kept[0].polygon.equals(shapely.box(600, 300, 1200, 500))
    assert kept[0].pieces == 2 and kept[0].touches_window_edge


def test_duplicates_across_levels_collapse_to_the_finer_one():
    field = (100, 100, 300, 300)
    pond = (1300, 600, 1500, 800)
    windows = [
        [candidate(field, LEFT, iou=0.85)],
        [candidate(pond, RIGHT)],
        [candidate(field, LEVEL1, level=1, iou=0.95), candidate(pond, LEVEL1, level=1)],
    ]

    kept = merge.merge_windows(windows, iou_threshold=0.7)

    assert len(kept) == 2
    assert sorted(k.level for k in kept) == [0, 0]
    assert {tuple(round(v) for v in k.polygon.bounds) for k in kept} == {(100, 100, 300, 300), (1300, 600, 1500, 800)}


def test_a_mask_cut_by_a_window_edge_loses_to_the_window_that_holds_it_whole():
    rect = (700, 200, 900, 400)  # whole in the left window, cut by the right window's left edge
    whole = candidate(rect, LEFT)
    assert not whole.touches_window_edge

    # The cut piece came first and was saved as a draft: the whole mask replaces it.
    piece = candidate(rect, RIGHT, draft_id=7)
    assert piece.touches_window_edge
    result = merge.merge_into([piece], [whole], iou_threshold=0.7)
    assert result.kept == [whole] and result.added == [whole] and result.removed == [piece]

    # The whole mask came first: the piece is dropped.
    result = merge.merge_into([whole], [candidate(rect, RIGHT)], iou_threshold=0.7)
    assert result.kept == [whole] and result.added == [] and result.removed == []
    assert whole.polygon.equals(shapely.box(700, 200, 900, 400))
