"""The Regularise button of the annotate page, in Chromium against the live app: an
annotator squares a traced building, reads the figures, and undoes it like an edit; a viewer
is not offered the button."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
import shapely.affinity
from pyproj import CRS, Transformer
from shapely.geometry import Polygon

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

NAIP = "naip_rgbn_utm14_2020.tif"  # EPSG:26914, 5 m pixels


def traced_building(image) -> tuple[dict, Polygon]:
    """A 40 x 25 m building turned by 20° at the image's centre, traced with 0.4 m noise:
    (GeoJSON in EPSG:4326, the noise-free truth in the image's CRS, metres)."""
    to_image = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(image.crs_wkt), always_xy=True)
    to_4326 = Transformer.from_crs(CRS.from_wkt(image.crs_wkt), CRS.from_epsg(4326), always_xy=True)
    centre = image.footprint.centroid
    x, y = to_image.transform(centre.x, centre.y)
    truth = shapely.affinity.rotate(Polygon([(0, 0), (40, 0), (40, 25), (0, 25)]), 20, origin=(0, 0))
    truth = shapely.affinity.translate(truth, x, y)
    rng = np.random.default_rng(11)
    xy = np.asarray(truth.exterior.segmentize(1.0).coords)[:-1]
    noisy = Polygon(xy + rng.normal(0, 0.4, xy.shape)).buffer(0)
    lonlat = shapely.transform(noisy, lambda p: np.column_stack(to_4326.transform(p[:, 0], p[:, 1])))
    return json.loads(shapely.to_geojson(lonlat)), truth


def test_an_annotator_regularises_a_building_reads_the_figures_and_undoes_it(
    cast, ingested_image, browser_as, app, screenshot, wait_for
):
    from annotator.models import Annotation
    from annotator.workflow import annotations

    image = ingested_image(NAIP)
    geometry, _truth = traced_building(image)
    annotation = annotations.create_annotation(image, cast.annotator, geometry)
    traced_vertices = annotation.geometry.num_coords
    session = browser_as("annotator")
    page = session.page

    page.goto(f"{app}/images/{image.pk}/map/?annotation={annotation.pk}")
    page.locator("body[data-ready=true]").wait_for()
    page.locator("#selection", has_text="draft · v1").wait_for()
    screenshot(page, "traced")
    page.get_by_role("button", name="Regularise").click()
    figures = page.locator("#regularise-figures")
    figures.filter(has_text="Regularised (v2)").wait_for()
    text = figures.inner_text()
    assert "IoU 0.9" in text and "within 0.00°" in text, text
    screenshot(page, "regularised")

    saved = Annotation.objects.get(pk=annotation.pk)
    assert saved.version == 2
    assert saved.geometry.num_coords == 5 < traced_vertices  # four corners
    assert page.evaluate("() => window.geoprompt.state().current.version") == 2

    # Undo brings the traced outline back, saved as a further version.
    page.keyboard.press("Control+z")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).version == 3)
    restored = Annotation.objects.get(pk=annotation.pk).geometry
    assert restored.num_coords == traced_vertices
    assert restored.equals_exact(annotation.geometry, 1e-9)
    assert session.console_errors == []

    # A viewer opening the same annotation is not offered the action.
    viewer = browser_as("viewer").page
    viewer.goto(f"{app}/images/{image.pk}/map/?annotation={annotation.pk}")
    viewer.locator("body[data-ready=true]").wait_for()
    viewer.locator("#selection", has_text="v3").wait_for()
    assert viewer.locator("#regularise-panel").is_hidden()
