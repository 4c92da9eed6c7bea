"""Agreement figures on synthetic polygons in a UTM CRS (metres), against values worked out by hand."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pyproj
import pytest
import shapely
from shapely import affinity

from annotator.quality import agreement
from annotator.quality.agreement import Outlines, Unit

UTM14 = pyproj.CRS.from_epsg(32614)


def boxes(*bounds) -> np.ndarray:
    return np.array([shapely.box(*b) for b in bounds], dtype=object)


def unit(**outlines: Outlines) -> Unit:
    return Unit("test", UTM14, outlines)


def test_matching_is_one_to_one_and_prefers_the_most_matches_then_the_highest_iou():
    # a0 overlaps b0 (IoU 0.9) and b1 (IoU 0.6); a1 overlaps only b0 (IoU 0.6). Greedy on IoU
    # would give a0-b0 and leave a1 alone; the Hungarian answer matches both.
    a = boxes((0, 0, 10, 10), (1.2, 0, 11.2, 10))
    b = boxes((0, 0, 10, 9), (-2.5, 0, 7.5, 10))
    iou = [[shapely.area(shapely.intersection(x, y)) / shapely.area(shapely.union(x, y)) for y in b] for x in a]
    assert iou[0][0] == pytest.approx(0.9) and iou[0][1] >= 0.5 and iou[1][0] >= 0.5 and iou[1][1] < 0.5
    found = agreement.match(a, b, 0.5)
    assert sorted(zip(found.a.tolist(), found.b.tolist(), strict=True)) == [(0, 1), (1, 0)]
    assert found.iou.tolist() == pytest.approx([iou[i][j] for i, j in zip(found.a, found.b, strict=True)])


def test_a_pair_below_the_iou_threshold_is_not_a_match():
    a, b = boxes((0, 0, 10, 10)), boxes((5, 0, 15, 10))  # IoU 50/150 = 1/3
    assert len(agreement.match(a, b, 0.5).a) == 0
    found = agreement.match(a, b, 0.3)
    assert found.iou.tolist() == pytest.approx([1 / 3])


def test_f1_counts_two_polygons_per_match_over_all_polygons_of_the_pair():
    # alice: 3 buildings; bob: 2 of them (slightly off) and one of his own. 2 matches:
    # F1 = 2·2 / (3 + 3) = 2/3; mean IoU of (10x10 vs 10x9.5) twice = 0.95.
    alice = Outlines.of([1, 2, 3], boxes((0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10)), ["a", "a", "b"])
    bob = Outlines.of([4, 5, 6], boxes((0, 0, 10, 9.5), (20, 0, 30, 9.5), (70, 0, 80, 10)), ["a", "b", "b"])
    figures = agreement.compare([unit(alice=alice, bob=bob)]).as_dict()
    (pair,) = figures["pairs"]
    assert pair["annotators"] == ["alice", "bob"]
    assert (pair["polygons"], pair["matched"], pair["f1"]) == (6, 2, pytest.approx(0.6667, abs=1e-4))
    assert pair["mean_iou"] == pytest.approx(0.95)
    assert pair["label_agreement"] == pytest.approx(0.5)
    by_class = {row["label_class"]: row for row in figures["classes"]}
    # class a: alice 2 + bob 1 polygons, one match labelled a on both sides: 2/3. class b:
    # alice 1 + bob 2, no match labelled b on both sides: 0.
    assert by_class["a"]["f1"] == pytest.approx(0.6667, abs=1e-4)
    assert by_class["b"]["f1"] == 0
    # Per annotator, their own polygons and those someone else matched.
    assert [(r["annotator"], r["polygons"], r["matched"]) for r in figures["annotators"]] == [
        ("alice", 3, 2),
        ("bob", 3, 2),
    ]
    assert (by_class["a"]["polygons"], by_class["a"]["matched"]) == (3, 2)
    assert {row["annotator"]: row["f1"] for row in figures["annotators"]} == {
        "alice": pytest.approx(0.6667, abs=1e-4),
        "bob": pytest.approx(0.6667, abs=1e-4),
    }


def test_the_boundary_distance_of_concentric_squares_one_metre_apart_is_one_metre():
    # From the inner square every boundary point is 1 m from the outer one; from the outer
    # square, points within 1 m of a corner (1/6 of its boundary) are up to √2 m away: the
    # median of both is 1 m.
    found = agreement.boundary_distance_m(boxes((0, 0, 10, 10)), boxes((-1, -1, 11, 11)))
    assert found.tolist() == pytest.approx([1.0])


def test_the_boundary_distance_of_a_square_shifted_by_two_metres_is_one_metre():
    # A 10 m square and the same shifted 2 m east. Of each 40 m boundary: 16 m of horizontal
    # sides lie on the other's (0 m); the far vertical side (10 m) and the middle 6 m of the near
    # one are 2 m away; 8 m (2 m at each end of the near side, 2 m of each horizontal side
    # outside the overlap) run evenly from 0 to 2 m. The median, 20 m into that ranking, falls
    # halfway along the even stretch: 1 m.
    found = agreement.boundary_distance_m(boxes((0, 0, 10, 10)), boxes((2, 0, 12, 10)), samples=400)
    assert found[0] == pytest.approx(1.0, abs=0.02)


def test_krippendorffs_alpha_matches_the_coincidence_matrix_worked_by_hand():
    # Units (a,a) (a,a) (b,b) (a,b): o_aa = 4, o_bb = 2, o_ab = o_ba = 1; n_a = 5, n_b = 3, n = 8;
    # alpha = 1 - (n - 1)·(o_ab + o_ba) / (2·n_a·n_b) = 1 - 7·2/30 = 8/15.
    units = [["a", "a"], ["a", "a"], ["b", "b"], ["a", "b"]]
    assert agreement.krippendorff_alpha_nominal(units) == pytest.approx(8 / 15)


def test_krippendorffs_alpha_handles_three_coders_and_missing_values():
    # Unit 1 (a,a,b): o_aa += 2/2, o_ab = o_ba += 2/2; unit 2 (b,b): o_bb += 2; unit 3 (a): dropped.
    # o_aa = 1, o_ab = o_ba = 1, o_bb = 2; n_a = 2, n_b = 3, n = 5; alpha = 1 - 4·2/12 = 1/3.
    assert agreement.krippendorff_alpha_nominal([["a", "a", "b"], ["b", "b"], ["a"]]) == pytest.approx(1 / 3)


def test_krippendorffs_alpha_is_undefined_when_only_one_class_occurs():
    assert agreement.krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None


def test_clusters_link_matches_across_three_annotators():
    square = shapely.box(0, 0, 20, 20)
    a = Outlines.of([1, 2], [square, shapely.box(100, 100, 110, 110)], ["house", "house"])
    b = Outlines.of([3], [affinity.translate(square, 1, 0)], ["house"])
    c = Outlines.of([4], [affinity.translate(square, -1, 0)], ["shed"])
    result = agreement.compare([unit(a=a, b=b, c=c)])
    assert [sorted(result.clusters[0].outline(n, i)[0] for n, i in result.clusters[0].members)] == [[1, 3, 4]]
    # One unit of three labels (house, house, shed): o_hh = 1, o_hs = o_sh = 1; n_h = 2, n_s = 1,
    # n = 3; alpha = 1 - 2·2/4 = 0.
    assert result.as_dict()["overall"]["label_alpha"] == pytest.approx(0.0)


def test_annotators_are_compared_only_where_both_were_asked_to_work():
    # alice was given the west half, bob the whole image: bob's eastern polygon is no miss of alice's.
    alice = Outlines.of([1], boxes((0, 0, 10, 10)), [None])
    bob = Outlines.of([2, 3], boxes((0, 0, 10, 10), (200, 0, 210, 10)), [None, None])
    regions = {"alice": shapely.box(-50, -50, 100, 100)}
    figures = agreement.compare([Unit("test", UTM14, {"alice": alice, "bob": bob}, regions)]).as_dict()
    assert figures["pairs"][0]["f1"] == 1.0


def test_the_consensus_of_three_offset_copies_of_a_square_is_the_square_within_a_cell():
    square = shapely.box(0, 0, 20, 20)
    copies = [affinity.translate(square, 1, 0), affinity.translate(square, -1, 0), affinity.translate(square, 0, 0)]
    fused, cell = agreement.fuse(copies)
    assert cell == pytest.approx(22 / agreement.CONSENSUS_CELLS)
    assert shapely.hausdorff_distance(fused, square) <= cell
    # Not one member's shape: each copy is 1 m or more from the square somewhere.
    assert all(shapely.hausdorff_distance(fused, c) > cell for c in copies[:2])


def test_the_consensus_keeps_only_what_more_than_half_of_the_members_cover():
    # Two of four members reach 4 m further east: half is no majority, so that strip is left
    # out; two of three are, so it is kept.
    west, east = shapely.box(0, 0, 10, 10), shapely.box(0, 0, 14, 10)
    fused, cell = agreement.fuse([west, west, east, east])
    assert shapely.hausdorff_distance(fused, west) <= cell
    fused, cell = agreement.fuse([west, east, east])
    assert shapely.hausdorff_distance(fused, east) <= cell


def test_members_that_share_no_majority_cell_fuse_into_nothing():
    fused, _cell = agreement.fuse([shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)])
    assert fused.is_empty


def test_an_iou_threshold_outside_zero_to_one_is_refused():
    from annotator.errors import InvalidInput

    with pytest.raises(InvalidInput):
        agreement.compare([], iou_threshold=0)


def test_the_consensus_of_rotated_outlines_follows_the_exact_majority_without_a_staircase():
    # For three members the majority is exactly the union of their pairwise intersections.
    house = affinity.rotate(shapely.box(0, 0, 20, 12), 30, origin=(0, 0))
    members = [affinity.translate(house, dx, dy) for dx, dy in ((0.4, 0.0), (-0.3, 0.2), (0.0, -0.4))]
    exact = shapely.union_all([shapely.intersection(x, y) for x, y in combinations(members, 2)])
    fused, cell = agreement.fuse(members)
    assert shapely.hausdorff_distance(fused, exact) <= (agreement.SMOOTHING_CELLS + 0.5) * cell
    assert shapely.get_num_coordinates(fused) <= 12  # a rectangle, not hundreds of grid steps
