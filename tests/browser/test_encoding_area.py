"""The annotate page on an image still encoding: a click says "Encoding this area…", then shows the polygon.

The encode worker starts only once the page shows that it waits, so the first answers are
409 ``encoding_area`` and the page re-sends the click until the worker has encoded the
click's window.
"""

from __future__ import annotations

import pytest

from tests.support.rasters import data_file
from tests.support.sam2 import ingest_file

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.timeout(900)]

STATE = "() => window.geoprompt.state()"


def test_a_click_on_an_image_still_encoding_shows_encoding_this_area_then_the_polygon(
    cast, browser_as, app, screenshot, settings, start_worker
):
    settings.SAM2_ON_DEMAND_WAIT_S = 0.5  # no worker yet: the click is answered encoding_area at once
    image = ingest_file(cast.project, cast.owner, data_file("hillshade_1band_3857.tif"))
    assert image.status == "ready"  # its encode job is queued; no worker runs it yet

    page = browser_as("annotator").page
    page.goto(f"{app}/images/{image.pk}/map/")
    page.locator("body[data-ready=true]").wait_for()
    page.locator("#encode-status:not([hidden])").wait_for()
    assert page.locator("#encode-status").inner_text() == "SAM2 ready here: 0/1 windows · whole image 0/1"
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    status = page.locator("#segment-status[data-state=encoding]")
    status.wait_for()
    assert status.inner_text() == "Encoding this area… (0/1 windows ready)"
    screenshot(page, "1-encoding-this-area")

    start_worker()
    page.wait_for_function("window.geoprompt.state().segments >= 1")
    state = page.evaluate(STATE)
    window = state["preview"]["properties"]["window"]
    assert (window["level"], window["row_off"], window["col_off"]) == (0, 0, 0)  # the image's one window
    assert page.locator("#segment-status").inner_text().startswith("Last segment:")
    assert page.locator("#segment-status").get_attribute("data-state") in ("ok", "empty")
    screenshot(page, "2-polygon")
