"""The order of need of the encode job, and the windows a view overlaps (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from annotator.choices import EncodePriority
from annotator.sam2.priority import PendingRequest, order_windows, window_id
from annotator.sam2.windows import plan_windows, windows_intersecting

UTM = Affine(5.0, 0.0, 500_000.0, 0.0, -5.0, 5_300_000.0)


def test_clicks_come_first_oldest_first_then_views_newest_first_then_areas_then_the_plan_order():
    plan = plan_windows(3000, 2000, UTM)  # 12 windows at level 0, 2 at level 1, 1 at level 2
    ids = [window_id(w) for w in plan]
    assert len(ids) == 15
    stored_elsewhere = (9, 0, 0)  # a request for a window that is not to do any more is ignored
    requests = [
        PendingRequest(ids[5], EncodePriority.VIEW, requested_at=10.0, seen_at=10.0),
        PendingRequest(ids[6], EncodePriority.CLICK, requested_at=30.0, seen_at=30.0),
        PendingRequest(ids[7], EncodePriority.VIEW, requested_at=5.0, seen_at=40.0),
        PendingRequest(ids[2], EncodePriority.CLICK, requested_at=20.0, seen_at=35.0),
        PendingRequest(stored_elsewhere, EncodePriority.CLICK, requested_at=1.0, seen_at=1.0),
    ]
    areas = {ids[9], ids[3], ids[2]}
    ordered = [window_id(w) for w in order_windows(plan, requests, areas)]
    first = [ids[2], ids[6], ids[7], ids[5], ids[3], ids[9]]
    # The oldest click, the next click, the view seen last, the other view, the areas' windows
    # in plan order (ids[2] is there already), then the rest in plan order.
    assert ordered == first + [i for i in ids if i not in first]
    assert order_windows(plan, [], set()) == plan


def _overlaps(window, bounds) -> bool:
    col0, row0, col1, row1 = bounds
    return (
        window.src_col_off <= col1
        and col0 <= window.src_col_off + window.src_width
        and window.src_row_off <= row1
        and row0 <= window.src_row_off + window.src_height
    )


@pytest.mark.parametrize(("width", "height"), [(20_000, 20_000), (1400, 1100), (5000, 4097), (700, 500)])
def test_the_windows_overlapping_a_rectangle_are_those_of_the_plan_that_overlap_it(width, height):
    plan = plan_windows(width, height, UTM)
    rng = np.random.default_rng(width * 3 + height)
    for _ in range(25):
        col0, row0 = rng.uniform(0, width), rng.uniform(0, height)
        bounds = (col0, row0, min(width, col0 + rng.uniform(0, 4000)), min(height, row0 + rng.uniform(0, 4000)))
        assert windows_intersecting(width, height, UTM, bounds) == [w for w in plan if _overlaps(w, bounds)]
        finest = windows_intersecting(width, height, UTM, bounds, levels=range(1))
        assert finest == [w for w in plan if w.level == 0 and _overlaps(w, bounds)]
