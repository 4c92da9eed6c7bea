"""Manual polygons, vertex edits with undo, a stale save (409) that loses nothing, delete,
and the shortcut help, in Chromium against the live app and tiler (no SAM2 needed)."""

from __future__ import annotations

import json

import pytest
from shapely.affinity import scale
from shapely.geometry import mapping

from tests.support.map_gestures import drag_vertex, draw_square, geometry_of

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


def test_a_stale_save_keeps_the_drawing_and_saves_it_after_a_reload(
    cast, ingested_image, client_for, browser_as, app, screenshot, wait_for
):
    from annotator.models import Annotation, LabelClass

    LabelClass.objects.create(project=cast.project, name="field", colour="#eab308")
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    page = browser_as("annotator").page
    page.goto(f"{app}/images/{image.pk}/map/")
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()

    page.keyboard.press("?")
    assert page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()
    assert "undo / redo prompts and edits" in page.locator("#help-keys").inner_text()
    screenshot(page, "help")
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()

    page.keyboard.press("1")  # new annotations get the label "field"
    page.keyboard.press("p")
    draw_square(page)
    page.locator(".current-annotation").wait_for()
    annotation = Annotation.objects.get(image=image)
    assert annotation.source == "manual" and annotation.version == 1
    assert annotation.label_class.name == "field"
    drawn = geometry_of(annotation)

    # Someone else saves a change first: the annotator's next save names a stale version.
    theirs = scale(drawn, 0.5, 0.5)
    other = client_for(cast.owner).patch(
        f"/api/v1/annotations/{annotation.pk}/", {"version": 1, "geometry": mapping(theirs)}, format="json"
    )
    assert other.status_code == 200, other.content
    drag_vertex(page, 0, -40, -30)
    page.locator("#stale").wait_for()
    assert "Someone else changed this annotation" in page.locator("#stale-text").inner_text()
    screenshot(page, "stale")
    annotation.refresh_from_db()
    assert annotation.version == 2  # their change stands: nothing was silently overwritten
    assert geometry_of(annotation).symmetric_difference(theirs).area < theirs.area * 1e-6

    page.get_by_role("button", name="Reload their version").click()
    page.get_by_role("button", name="Save mine").click()
    page.locator("#save-status", has_text="Saved v3").wait_for()
    annotation.refresh_from_db()
    mine = geometry_of(annotation)
    assert mine.area > drawn.area * 1.05  # the dragged corner grew the square: the drawing was kept

    page.keyboard.press("Control+z")
    page.locator("#save-status", has_text="Saved v4").wait_for()
    annotation.refresh_from_db()
    assert geometry_of(annotation).symmetric_difference(drawn).area < drawn.area * 1e-6
    page.keyboard.press("Control+Shift+z")
    page.locator("#save-status", has_text="Saved v5").wait_for()
    annotation.refresh_from_db()
    assert geometry_of(annotation).symmetric_difference(mine).area < mine.area * 1e-6

    page.keyboard.press("Delete")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).deleted_at is not None)
    page.locator(".current-annotation").wait_for(state="detached")


def test_submitted_work_is_locked_for_review_and_someone_elses_is_read_only(
    cast, ingested_image, client_for, browser_as, app, screenshot, wait_for
):
    from annotator.models import Annotation
    from annotator.workflow import annotations

    image = ingested_image("naip_rgbn_utm14_2020.tif")
    page = browser_as("annotator").page
    page.goto(f"{app}/images/{image.pk}/map/")
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()
    page.keyboard.press("p")
    draw_square(page)
    page.locator(".current-annotation").wait_for()
    annotation = Annotation.objects.get(image=image)
    assert page.evaluate("window.geoprompt.state().current.allowed") == ["comment", "delete", "edit", "submit"]

    # The author submits it from another tab: this page's next save is refused as locked, not stale.
    submitted = client_for(cast.annotator).post(
        f"/api/v1/annotations/{annotation.pk}/submit/", {"version": 1}, format="json"
    )
    assert submitted.status_code == 200, submitted.content
    drag_vertex(page, 0, -40, -30)
    page.locator("#save-status", has_text="locked until a reviewer approves it").wait_for()
    assert not page.locator("#stale").is_visible()  # nobody else changed it: no talk of their version
    page.locator("#selection", has_text="submitted · v2").wait_for()
    assert "read only" in page.locator("#selection").inner_text()
    assert page.locator(".leaflet-marker-icon.marker-icon").count() == 0  # no vertex handles left
    screenshot(page, "locked")
    annotation.refresh_from_db()
    assert annotation.state == "submitted" and annotation.version == 2

    # Someone else's draft opens read only: the page follows the API's allowed actions.
    theirs = annotations.create_annotation(image, cast.owner, json.loads(annotation.geometry.geojson))
    page.goto(f"{app}/images/{image.pk}/map/?annotation={theirs.pk}")
    page.locator(".current-annotation").wait_for()
    page.locator("#selection", has_text="read only").wait_for()
    assert page.evaluate("window.geoprompt.state().current.allowed") == ["comment"]
    assert page.locator(".leaflet-marker-icon.marker-icon").count() == 0
    page.keyboard.press("Delete")
    page.get_by_text(f"You cannot delete annotation #{theirs.pk} now").wait_for()
    assert wait_for(lambda: Annotation.objects.get(pk=theirs.pk).deleted_at is None)
