"""The outline traced on the decoder's low-resolution logits is the upsampled mask's exact outline.

Object-like logits are made from real shapes (a rasterized building, field and lake, smooth
blobs) the way a decoder's low-resolution output looks: the shape rasterized in window
pixels, averaged over each 4 x 4 cell and centred on 0. The reference is the exact pixel
outline of SAM2's own upsampling of those logits (bilinear to 1024 x 1024, thresholded at 0),
traced by :func:`outline.mask_outline`.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import torch
from rasterio.features import rasterize
from shapely import affinity
from shapely.geometry import MultiPolygon, Point, Polygon, box

from annotator.segment import outline
from annotator.segment import service as segment

WINDOW = 1024


def logits_of(shape, width: int = WINDOW, height: int = WINDOW) -> np.ndarray:
    """[256, 256] logits whose zero level follows ``shape`` (window pixels), as a decoder's would."""
    mask = rasterize([shape], out_shape=(WINDOW, WINDOW), all_touched=False).astype(np.float32)
    cover = mask.reshape(256, 4, 256, 4).mean(axis=(1, 3))
    return np.clip(24.0 * (cover - 0.5), -32, 32).astype(np.float32)


def upsampled_mask(logits: np.ndarray, width: int, height: int) -> np.ndarray:
    return segment.upsample(torch.from_numpy(logits)[None], width, height)[0]


def wavy_ring(cx, cy, radius, waves, depth, count=720):
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    r = radius * (1 + depth * np.sin(waves * angles) + 0.5 * depth * np.cos((waves + 3) * angles + 1.0))
    return np.column_stack([cx + r * np.cos(angles), cy + r * np.sin(angles)])


def blob(cx, cy, sigma, lobes, seed):
    """A smooth blob: the level set of a sum of Gaussians, as a polygon."""
    rng = np.random.default_rng(seed)
    centres = rng.normal([cx, cy], sigma * 0.8, size=(lobes, 2))
    rows, cols = np.mgrid[0:WINDOW:2, 0:WINDOW:2]
    field = sum(np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2)) for x, y in centres)
    inside = (field > 0.5).astype(np.uint8)
    shapes = [shapely.geometry.shape(g) for g, v in __import__("rasterio.features").features.shapes(inside) if v]
    largest = max(shapes, key=lambda p: p.area)
    return affinity.scale(largest, 2, 2, origin=(0, 0))


SHAPES = {
    "a rotated building": affinity.rotate(box(400, 300, 472, 341), 23, origin="centroid"),
    "an L-shaped building": Polygon([(200, 200), (290, 200), (290, 240), (236, 240), (236, 310), (200, 310)]),
    "a field": Polygon([(120, 530), (480, 505), (530, 790), (300, 880), (95, 760)]),
    "a lake with an island": Polygon(wavy_ring(640, 420, 190, 7, 0.12), [wavy_ring(660, 430, 45, 3, 0.2)[::-1]]),
    "a smooth blob": blob(520, 520, 70, 5, seed=3),
    "a small smooth blob": blob(300, 700, 18, 3, seed=8),
}


def click_inside(shape) -> np.ndarray:
    point = shape.representative_point() if shape.geom_type == "Polygon" else shape.geoms[0].representative_point()
    return np.array([[point.x, point.y]])


@pytest.mark.parametrize("size", [(1024, 1024), (934, 723)], ids=["a full window", "a cut window"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_the_traced_outline_matches_the_upsampled_masks_pixel_outline(name, size):
    width, height = size
    logits = logits_of(SHAPES[name])
    click = click_inside(SHAPES[name])
    exact = outline.mask_outline(upsampled_mask(logits, width, height), click, None, 0, 16).geometry
    traced = outline.logits_outline(logits, width, height, click, None, 0, 16).geometry
    assert traced.is_valid and not exact.is_empty
    iou = traced.intersection(exact).area / traced.union(exact).area
    hausdorff = shapely.hausdorff_distance(traced, exact, densify=0.05)
    print(f"{name}: IoU {iou:.4f}, Hausdorff {hausdorff:.2f} px, vertices {len(shapely.get_coordinates(traced))}")
    assert iou >= 0.98
    assert hausdorff <= 1.0


def test_the_default_simplification_keeps_the_outline_within_its_tolerance():
    shape = SHAPES["a lake with an island"]
    logits = logits_of(shape)
    traced = outline.logits_outline(logits, WINDOW, WINDOW, click_inside(shape), None, 0, 16)
    simple = outline.logits_outline(logits, WINDOW, WINDOW, click_inside(shape), None, 0.5, 16)
    assert simple.vertices < traced.vertices
    assert simple.geometry.is_valid
    assert simple.geometry.hausdorff_distance(traced.geometry) <= 0.5 + 1e-9


def test_the_outline_stays_inside_the_windows_valid_size():
    logits = np.full((256, 256), 5.0, dtype=np.float32)
    result = outline.logits_outline(logits, 301, 117, np.array([[10.0, 10.0]]), None, 0, 16)
    assert result.geometry.bounds == (0.0, 0.0, 301.0, 117.0)
    assert result.geometry.area == pytest.approx(301 * 117)


def test_only_the_clicked_part_is_kept_and_specks_and_small_holes_go():
    building = SHAPES["a rotated building"]
    speck = Point(100, 100).buffer(2.5)
    holed = Polygon(
        box(600, 600, 800, 800).exterior, [Point(650, 650).buffer(3).exterior, box(700, 700, 760, 760).exterior]
    )
    logits = logits_of(MultiPolygon([building, speck, holed]))
    on_building = outline.logits_outline(logits, WINDOW, WINDOW, click_inside(building), None, 0, 16)
    assert len(on_building.geometry.geoms) == 1
    assert on_building.geometry.intersects(building) and not on_building.geometry.intersects(holed)
    on_speck = outline.logits_outline(logits, WINDOW, WINDOW, np.array([[100.0, 100.0]]), None, 0, 16)
    # A speck is never selected: with nothing else under the click, the largest part is.
    assert on_speck.geometry.area > 30_000
    (square,) = on_speck.geometry.geoms
    assert len(square.interiors) == 1 and on_speck.holes_filled == 1


def test_a_box_without_points_keeps_the_parts_it_meets():
    building, field = SHAPES["a rotated building"], SHAPES["a field"]
    logits = logits_of(MultiPolygon([building, field]))
    result = outline.logits_outline(
        logits, WINDOW, WINDOW, np.zeros((0, 2)), np.array([380.0, 280.0, 420.0, 320.0]), 0, 16
    )
    assert len(result.geometry.geoms) == 1 and result.geometry.intersects(building)


def test_an_empty_mask_gives_an_empty_outline():
    logits = np.full((256, 256), -3.0, dtype=np.float32)
    result = outline.logits_outline(logits, WINDOW, WINDOW, np.array([[5.0, 5.0]]), None, 0.5, 16)
    assert result.geometry.is_empty and result.vertices == 0


def noise_logits(seed: int) -> np.ndarray:
    """Logits like an untrained model's: ~70 % of the window on, with hundreds of holes and specks."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0.55, 1.0, (256, 256)) * 8).astype(np.float32)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_noise_mask_gives_a_valid_outline_within_the_vertex_limit(seed):
    logits = noise_logits(seed)
    click = np.array([[500.0, 400.0]])
    result = outline.logits_outline(logits, 934, 723, click, None, 1.0, 16, max_vertices=10_000)
    assert result.geometry.is_valid and not result.geometry.is_empty
    assert result.vertices <= 10_000
    assert result.vertices == shapely.get_num_coordinates(result.geometry)
    # The traced vertices are bounded whatever the mask: beyond the budget the smallest holes are filled.
    exact = outline.logits_outline(logits, 934, 723, click, None, 0, 16)
    hole_vertices = sum(len(ring.coords) for part in exact.geometry.geoms for ring in part.interiors)
    assert 0 < hole_vertices <= outline.TRACE_VERTEX_BUDGET
    assert exact.holes_filled > 100


def test_the_edge_strips_are_sams_upsampling():
    logits = np.random.default_rng(5).normal(0, 4, (256, 256)).astype(np.float32)
    full = torch.nn.functional.interpolate(
        torch.from_numpy(logits)[None, None], (1024, 1024), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    rows, cols = np.array([0, 1, 2, 511, 1021, 1022, 1023]), np.array([0, 1, 7, 640, 1023])
    np.testing.assert_allclose(outline.upsampled_at(logits, rows, cols), full[np.ix_(rows, cols)], atol=1e-5)
    mask = full[:700, :900] > 0
    cut = (True, True, True, True)
    assert segment.logits_touch_cut_edge(logits, 900, 700, cut) == segment.touches_cut_edge(mask, cut)
    inside = np.full((256, 256), -5.0, dtype=np.float32)
    inside[100:120, 100:120] = 5.0
    assert not segment.logits_touch_cut_edge(inside, 900, 700, cut)
    inside[100:120, 220:230] = 5.0
    assert segment.logits_touch_cut_edge(inside, 900, 700, (False, False, True, False))


def every_part(points, offsets, outer, keep, part_areas, positive_px, box_px):
    return np.ones(len(outer) - 1, dtype=bool)


@pytest.mark.parametrize(
    ("seed", "points", "box"),
    [
        (4, [[500.0, 400.0]], None),
        (5, [[10.0, 700.0], [900.0, 30.0]], None),
        (6, np.zeros((0, 2)), [200.0, 150.0, 260.0, 190.0]),
        # Far outside the mask's parts: the largest part is the fallback.
        (7, [[5000.0, 5000.0]], None),
    ],
)
def test_choosing_among_the_parts_near_the_prompts_gives_the_outline_of_choosing_among_all(
    monkeypatch, seed, points, box
):
    rng = np.random.default_rng(seed)
    # Blobs of many sizes, so that many parts exist and several lie near each prompt.
    logits = (rng.normal(-0.2, 1.0, (256, 256)) * 8).astype(np.float32)
    args = (logits, 934, 723, np.asarray(points, dtype=float), None if box is None else np.array(box), 0, 16)
    fast = outline.logits_outline(*args)
    monkeypatch.setattr(outline, "_reachable_parts", every_part)
    reference = outline.logits_outline(*args)
    assert not reference.geometry.is_empty
    assert fast.geometry.equals_exact(reference.geometry, 0) and fast.holes_filled == reference.holes_filled
