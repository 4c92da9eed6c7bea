"""Mask → outline in window pixels: which parts, which holes, how simplified (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import Geod, Transformer

from annotator.segment import outline
from annotator.segment import service as segment


def blank(h=64, w=64):
    return np.zeros((h, w), dtype=bool)


def test_the_outline_covers_exactly_the_selected_pixels():
    rng = np.random.default_rng(4)
    mask = rng.random((120, 150)) < 0.62
    result = outline.mask_outline(mask, np.array([[75.5, 60.5]]), None, simplify_px=0, min_area_px=0)
    selected = outline.select_parts(mask, np.array([[75.5, 60.5]]), None, 0)
    assert result.geometry.is_valid
    assert result.geometry.area == selected.sum()
    # Every pixel centre lies inside the outline exactly when the pixel is selected.
    rows, cols = np.mgrid[0:120, 0:150]
    inside = shapely.contains_xy(result.geometry, cols.ravel() + 0.5, rows.ravel() + 0.5).reshape(mask.shape)
    assert (inside == selected).all()


def test_only_the_clicked_part_is_kept():
    mask = blank()
    mask[5:20, 5:20] = True
    mask[30:60, 30:60] = True
    result = outline.mask_outline(mask, np.array([[10.2, 12.7]]), None, 0, 16)
    assert result.geometry.area == 15 * 15
    assert result.geometry.bounds == (5.0, 5.0, 20.0, 20.0)


def test_a_click_half_a_pixel_outside_a_part_still_selects_it():
    mask = blank()
    mask[30:60, 30:60] = True
    mask[2:8, 2:8] = True
    result = outline.mask_outline(mask, np.array([[29.6, 45.0]]), None, 0, 16)
    assert result.geometry.bounds == (30.0, 30.0, 60.0, 60.0)


def test_two_positive_points_on_two_parts_keep_both():
    mask = blank()
    mask[5:20, 5:20] = True
    mask[30:60, 30:60] = True
    result = outline.mask_outline(mask, np.array([[10.5, 10.5], [40.5, 40.5]]), None, 0, 16)
    assert len(result.geometry.geoms) == 2
    assert result.geometry.area == 15 * 15 + 30 * 30


def test_a_box_without_points_keeps_the_parts_it_meets():
    mask = blank()
    mask[5:20, 5:20] = True
    mask[30:60, 30:60] = True
    result = outline.mask_outline(mask, np.zeros((0, 2)), np.array([2.0, 2.0, 12.0, 12.0]), 0, 16)
    assert result.geometry.area == 15 * 15


def test_with_no_part_under_the_prompts_the_largest_part_is_kept():
    mask = blank()
    mask[5:20, 5:20] = True
    mask[30:60, 30:60] = True
    result = outline.mask_outline(mask, np.array([[25.0, 25.0]]), None, 0, 16)
    assert result.geometry.area == 30 * 30


def test_specks_are_never_selected_and_small_holes_are_filled():
    mask = blank()
    mask[10:50, 10:50] = True
    mask[20:25, 20:25] = False  # a 25 px hole: kept
    mask[40:42, 40:42] = False  # a 4 px hole: filled
    mask[55:58, 55:58] = True  # a 9 px speck
    result = outline.mask_outline(mask, np.array([[56.5, 56.5]]), None, 0, 16)
    (polygon,) = result.geometry.geoms
    assert len(polygon.interiors) == 1 and shapely.Polygon(polygon.interiors[0]).area == 25
    assert result.holes_filled == 1
    assert polygon.area == 40 * 40 - 25


def test_holes_touching_the_part_only_at_a_corner_stay_valid():
    mask = blank(12, 12)
    mask[1:11, 1:11] = True
    mask[3:6, 3:6] = False
    mask[6:9, 6:9] = False  # meets the first hole at one corner
    result = outline.mask_outline(mask, np.array([[1.5, 1.5]]), None, 0, 0)
    assert result.geometry.is_valid
    assert result.geometry.area == 100 - 18


def test_a_vertex_budget_raises_the_tolerance_until_the_outline_fits():
    rng = np.random.default_rng(8)
    mask = rng.random((400, 400)) < 0.7
    loose = outline.mask_outline(mask, np.array([[200.5, 200.5]]), None, 0.5, 16)
    assert loose.vertices > 4000
    tight = outline.mask_outline(mask, np.array([[200.5, 200.5]]), None, 0.5, 16, max_vertices=4000)
    assert tight.vertices <= 4000 < loose.vertices
    assert tight.simplify_px > 0.5
    assert tight.geometry.is_valid
    assert tight.vertices == shapely.get_num_coordinates(tight.geometry)


def test_an_empty_mask_gives_an_empty_outline():
    result = outline.mask_outline(blank(), np.array([[3.0, 3.0]]), None, 0.5, 16)
    assert result.geometry.is_empty and result.vertices == 0


@pytest.mark.parametrize(
    ("crs", "transform"),
    [
        ("EPSG:32614", Affine(0.6, 0, 500_000, 0, -0.6, 5_000_000)),
        ("EPSG:3857", Affine(30, 0, -11_000_000, 0, -30, 6_000_000)),
    ],
)
def test_the_area_is_the_geodesic_area_on_the_wgs84_ellipsoid(crs, transform):
    mask = blank(300, 300)
    rows, cols = np.mgrid[0:300, 0:300]
    mask[(cols - 150) ** 2 + (rows - 140) ** 2 < 120**2] = True
    mask[(cols - 150) ** 2 + (rows - 140) ** 2 < 30**2] = False
    shape = outline.mask_outline(mask, np.array([[150.5, 40.5]]), None, 0, 16).geometry
    wkt = Transformer.from_crs(crs, "EPSG:4326").source_crs.to_wkt()
    lonlat = segment.window_to_4326(shape, transform, wkt)
    expected = abs(Geod(ellps="WGS84").geometry_area_perimeter(lonlat)[0])
    to_area = segment._area_transformer(wkt, *np.round(lonlat.centroid.coords[0], 2))
    assert segment.area_m2(shape, transform, to_area) == pytest.approx(expected, rel=1e-6)
