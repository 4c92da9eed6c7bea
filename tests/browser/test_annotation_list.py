"""The annotate page's list, image navigation and layers, as the annotator, in Chromium
against the live app and tiler: filter the list, click an item (the map zooms to it and
selects it), step with ] through the list once each in order, open an item of another image,
go to the next image, and switch layers off."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.processes import STATE_WAIT_S
from tests.support.workflow import make_image, square

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]
WAIT_MS = STATE_WAIT_S * 1000  # a bound on waits for a state, not a timing


def current_id(page) -> int | None:
    return page.evaluate("() => { const c = window.geoprompt.state().current; return c ? c.id : null; }")


def wait_selected(page, annotation_id: int) -> None:
    page.wait_for_function(
        "(id) => { const c = window.geoprompt.state().current; return c !== null && c.id === id; }", arg=annotation_id
    )


def in_view(page, annotation_id: int) -> bool:
    """Whether the selected polygon is ``annotation_id`` and lies inside the visible map (pixels)."""
    if current_id(page) != annotation_id:
        return False
    polygon = page.locator(".current-annotation").bounding_box()
    view = page.locator("#map").bounding_box()
    return (
        polygon is not None
        and polygon["x"] >= view["x"]
        and polygon["y"] >= view["y"]
        and polygon["x"] + polygon["width"] <= view["x"] + view["width"]
        and polygon["y"] + polygon["height"] <= view["y"] + view["height"]
    )


def item_ids(page) -> list[int]:
    """The ids the list shows, once its latest query has been answered."""
    page.locator("#annotation-list[data-state=ready]").wait_for()
    return [
        int(i) for i in page.locator("#annotation-items li").evaluate_all("(lis) => lis.map((li) => li.dataset.id)")
    ]


def test_the_annotator_filters_the_list_steps_through_it_and_moves_between_images(
    cast, ingested_image, browser_as, app, screenshot
):
    from annotator.models import LabelClass
    from annotator.workflow import annotations, comments, review

    building = LabelClass.objects.create(project=cast.project, name="building", colour="#ef4444", order=0)
    field = LabelClass.objects.create(project=cast.project, name="field", colour="#eab308", order=1)
    # Created first, so listed after the ingested image (the project page lists newest first).
    older = make_image(cast.project, "older-flight.tif")
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    cx, cy = image.footprint.centroid.x, image.footprint.centroid.y

    def at(dx: float) -> dict:
        return square(cx + dx, cy, half=0.0003)

    mine_1 = annotations.create_annotation(image, cast.annotator, at(-0.004), label_class_id=building.pk)
    mine_2 = annotations.create_annotation(image, cast.annotator, at(-0.001), label_class_id=field.pk)
    mine_2 = review.transition(mine_2.pk, "submit", cast.annotator)
    theirs = annotations.create_annotation(image, cast.reviewer, at(0.001), label_class_id=building.pk)
    mine_3 = annotations.create_annotation(image, cast.annotator, at(0.004), label_class_id=building.pk)
    comments.open_thread(cast.project, cast.reviewer, "Is this one roof or two?", annotation_id=mine_3.pk)
    on_older = annotations.create_annotation(older, cast.annotator, square(*older.footprint.centroid.coords))

    session = browser_as("annotator")
    page = session.page
    page.goto(f"{app}/images/{image.pk}/map/")
    page.locator("body[data-ready=true]").wait_for()
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()

    # The list of this image with its counts per state.
    assert item_ids(page) == [mine_1.pk, mine_2.pk, theirs.pk, mine_3.pk]
    expect(page.locator(".count-chip[data-state=draft]")).to_have_text("draft 3", timeout=WAIT_MS)
    expect(page.locator(".count-chip[data-state=submitted]")).to_have_text("submitted 1", timeout=WAIT_MS)
    expect(page.locator(".count-chip[data-state='']")).to_have_text("all 4", timeout=WAIT_MS)
    assert page.locator("#image-position").inner_text() == "image 1 of 2"

    # Filters: mine; then drafts only; then with open comments.
    page.get_by_label("mine").check()
    assert item_ids(page) == [mine_1.pk, mine_2.pk, mine_3.pk]
    page.locator(".count-chip[data-state=draft]").click()
    assert item_ids(page) == [mine_1.pk, mine_3.pk]
    expect(page.locator(".count-chip[data-state=draft]")).to_have_text("draft 2", timeout=WAIT_MS)
    page.get_by_label("open comments").check()
    assert item_ids(page) == [mine_3.pk]
    page.get_by_label("open comments").uncheck()
    page.locator(".count-chip[data-state='']").click()
    page.get_by_label("Filter by class").select_option(label="field")
    assert item_ids(page) == [mine_2.pk]
    page.get_by_label("Filter by class").select_option(label="all classes")
    assert item_ids(page) == [mine_1.pk, mine_2.pk, mine_3.pk]
    screenshot(page, "filtered")

    # A click on an item zooms to it and selects it.
    zoom_before = page.evaluate("() => window.geoprompt.map.getZoom()")
    page.locator(f"#annotation-items li[data-id='{mine_2.pk}'] button").click()
    wait_selected(page, mine_2.pk)
    page.locator(".current-annotation").wait_for()
    page.wait_for_function(f"() => window.geoprompt.map.getZoom() > {zoom_before}")
    assert in_view(page, mine_2.pk)
    expect(page.locator(f"#annotation-items li[data-id='{mine_2.pk}']")).to_have_class("active", timeout=WAIT_MS)
    screenshot(page, "selected")

    # ] steps through the list in its order, each once, from nothing selected.
    page.keyboard.press("Escape")
    page.wait_for_function("() => window.geoprompt.state().current === null")
    seen = []
    for expected in (mine_1.pk, mine_2.pk, mine_3.pk):
        page.keyboard.press("]")
        wait_selected(page, expected)
        assert in_view(page, expected)
        seen.append(current_id(page))
    assert seen == [mine_1.pk, mine_2.pk, mine_3.pk]
    page.keyboard.press("]")  # the end of the list: it says so and stays
    expect(page.locator(".toast", has_text="No next annotation in the list.")).to_be_visible(timeout=WAIT_MS)
    assert current_id(page) == mine_3.pk
    page.keyboard.press("[")
    wait_selected(page, mine_2.pk)

    # Layers: drafts off hides their polygons (the selected one stays); the imagery off and on.
    page.keyboard.press("Escape")
    page.wait_for_function("() => window.geoprompt.state().current === null")
    # Zoom out well past the four (they span about 650 m) with the map's keys: the map takes
    # them once it has the focus, as after a click on it.
    # A key pressed while the map is still animating the previous step is folded into it, so
    # each press waits for its own step.
    page.locator("#map").focus()
    for _ in range(5):
        zoom = page.evaluate("() => window.geoprompt.map.getZoom()")
        page.keyboard.press("-")
        page.wait_for_function("(z) => window.geoprompt.map.getZoom() < z", arg=zoom)
    outlines = page.locator(".leaflet-overlay-pane path.leaflet-interactive")
    expect(outlines).to_have_count(4, timeout=WAIT_MS)
    page.get_by_label("draft", exact=True).uncheck()
    expect(outlines).to_have_count(1, timeout=WAIT_MS)  # the submitted one
    page.get_by_label("Annotation opacity").fill("40")
    assert outlines.first.get_attribute("stroke-opacity") == "0.4"
    page.get_by_label("imagery").uncheck()
    page.locator("[data-testid=image-tiles]").wait_for(state="detached")
    screenshot(page, "layers-off")
    page.get_by_label("imagery").check()
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()
    page.get_by_label("draft", exact=True).check()
    expect(outlines).to_have_count(4, timeout=WAIT_MS)

    # The whole project: an item of the other image opens that image's page on it; the list
    # keeps its filters there.
    page.get_by_role("button", name="Whole project").click()
    assert item_ids(page) == [mine_1.pk, mine_2.pk, mine_3.pk, on_older.pk]
    other_item = page.locator(f"#annotation-items li[data-id='{on_older.pk}']")
    expect(other_item).to_contain_text("on older-flight.tif", timeout=WAIT_MS)
    screenshot(page, "project-list")
    other_item.locator("button").click()
    page.wait_for_url(f"{app}/images/{older.pk}/map/?annotation={on_older.pk}")
    page.locator("body[data-ready=true]").wait_for()
    wait_selected(page, on_older.pk)
    assert page.locator("#image-position").inner_text() == "image 2 of 2"
    assert page.get_by_label("mine").is_checked()
    expect(page.get_by_role("button", name="Whole project")).to_have_attribute("aria-pressed", "true", timeout=WAIT_MS)
    screenshot(page, "other-image")

    # Previous and next image, in the project page's order.
    assert page.locator("#image-next").count() == 0  # the last image: Next is shown disabled
    page.locator("#image-previous").click()
    page.wait_for_url(f"{app}/images/{image.pk}/map/")
    page.locator("body[data-ready=true]").wait_for()
    assert page.locator("#image-position").inner_text() == "image 1 of 2"
    page.locator("#image-next").click()
    page.wait_for_url(f"{app}/images/{older.pk}/map/")
    page.locator("body[data-ready=true]").wait_for()
    assert page.locator("#image-position").inner_text() == "image 2 of 2"
    assert session.console_errors == []
