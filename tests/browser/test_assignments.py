"""Assigned areas in Chromium against the live app and tiler: an owner draws two areas on
the map and gives them to the annotator; the annotator finds them under My tasks, opens
one, draws and submits an annotation in it, goes on to the next task, and sees the area's
progress move on My tasks and on the project page; a rejection shows up as a task to fix."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import box, shape

from tests.support.map_gestures import drag, draw_square

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


def draw_area(page, name: str, start, end, shoot=None) -> None:
    page.get_by_role("button", name="Area", exact=True).click()
    page.get_by_role("form", name="New area").wait_for()
    drag(page, start, end)
    page.locator(".area-draft").wait_for()
    page.get_by_label("Area name").fill(name)
    page.get_by_label("Assign to").select_option("annotator")
    if shoot:
        shoot()
    page.get_by_role("button", name="Save area").click()
    page.get_by_text(f"Area “{name}” saved, assigned to annotator.").wait_for()


def map_bounds(page) -> tuple[float, float, float, float]:
    return tuple(page.evaluate("() => window.geoprompt.map.getBounds().toBBoxString().split(',').map(Number)"))


def test_an_owner_assigns_two_areas_and_the_annotator_works_through_them(
    cast, ingested_image, client_for, browser_as, app, screenshot, wait_for, own_hosts
):
    from annotator.models import Annotation, AssignedArea, LabelClass

    LabelClass.objects.create(project=cast.project, name="field", colour="#eab308")
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    footprint = shape(json.loads(image.footprint.geojson))

    # --- the owner draws and assigns two areas on the map ---------------------------------
    owner = browser_as("owner")
    page = owner.page
    page.goto(f"{app}/images/{image.pk}/map/")
    page.locator("body[data-ready=true]").wait_for()
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()
    assert "No areas on this image yet" in page.locator("#areas-panel").inner_text()
    draw_area(page, "West block", (0.3, 0.3), (0.47, 0.7), shoot=lambda: screenshot(page, "1-owner-draws-an-area"))
    page.locator("#area-list li", has_text="West block").wait_for()
    draw_area(page, "East block", (0.53, 0.3), (0.7, 0.7))
    page.locator("#area-list li").nth(1).wait_for()
    screenshot(page, "2-owner-drew-two-areas")

    west, east = AssignedArea.objects.filter(project=cast.project).order_by("id")
    assert [(a.name, a.assignee, a.image_id) for a in (west, east)] == [
        ("West block", cast.annotator, image.pk),
        ("East block", cast.annotator, image.pk),
    ]
    west_shape = shape(json.loads(west.geometry.geojson))
    east_shape = shape(json.loads(east.geometry.geojson))
    assert west_shape.bounds[2] < east_shape.bounds[0]  # drawn where they were dragged: west, then east
    assert footprint.buffer(1e-9).contains(west_shape) and west_shape.area > footprint.area * 0.02
    assert page.locator(".area-label", has_text="West block · annotator").count() == 1
    assert owner.console_errors == []

    # --- the annotator finds them under My tasks ------------------------------------------
    annotator = browser_as("annotator")
    page = annotator.page
    page.get_by_role("link", name="My tasks").click()
    page.get_by_role("heading", name="Areas assigned to me").wait_for()
    page.locator("#task-area-rows").wait_for()
    rows = page.locator("#task-area-rows tbody tr")
    assert rows.count() == 2
    assert "West block" in rows.nth(1).inner_text() or "West block" in rows.nth(0).inner_text()
    assert page.get_by_test_id(f"task-progress-{west.pk}").inner_text().strip() == "no annotations yet"
    assert "Nothing to fix" in page.locator("#task-rejected").inner_text()
    screenshot(page, "3-annotator-my-tasks")

    # --- opens the west one: the map is on it; draws and submits an annotation in it ---------
    page.get_by_role("link", name="Go to West block").click()
    page.wait_for_url(f"{app}/images/{image.pk}/map/?area={west.pk}")
    page.locator("body[data-ready=true]").wait_for()
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()
    w, s, e, n = map_bounds(page)
    view = box(w, s, e, n)
    assert view.contains(west_shape.centroid)
    assert view.area < footprint.area * 0.6  # zoomed on the area, not on the whole image
    assert page.locator("#area-list li.current-task").inner_text().startswith("West block")
    screenshot(page, "4-annotator-opened-west-block")

    page.keyboard.press("1")
    page.keyboard.press("p")
    draw_square(page, size=100)
    page.locator(".current-annotation").wait_for()
    page.get_by_test_id(f"area-progress-{west.pk}").filter(has_text="1 draft").wait_for()
    page.keyboard.press("s")
    assert wait_for(lambda: Annotation.objects.filter(image=image, state="submitted").count() == 1)
    page.get_by_test_id(f"area-progress-{west.pk}").filter(has_text="1 submitted").wait_for()
    annotation = Annotation.objects.get(image=image)
    assert west_shape.contains(shape(json.loads(annotation.geometry.geojson)))
    screenshot(page, "5-annotator-submitted-in-west-block")

    page.get_by_role("button", name="Next task").click()
    page.wait_for_url(f"{app}/images/{image.pk}/map/?area={east.pk}")
    page.locator("body[data-ready=true]").wait_for()
    assert page.locator("#area-list li.current-task").inner_text().startswith("East block")

    # --- the progress moved on My tasks ... -------------------------------------------------
    page.get_by_role("navigation", name="Project").get_by_role("link", name="My tasks").click()
    progress = page.get_by_test_id(f"task-progress-{west.pk}")
    progress.filter(has_text="1 submitted").wait_for()
    west_row = page.locator(f'#task-area-rows tr[data-task-id="{west.pk}"]')
    assert "0% done" not in west_row.inner_text()
    assert page.get_by_test_id(f"task-progress-{east.pk}").inner_text().strip() == "no annotations yet"
    screenshot(page, "6-annotator-my-tasks-after")

    # --- ... and on the project page --------------------------------------------------------
    page = owner.page
    page.goto(f"{app}/projects/{cast.project.pk}/")
    page.get_by_test_id(f"area-progress-{west.pk}").filter(has_text="1 submitted").wait_for()
    assert page.get_by_test_id(f"image-progress-{image.pk}").inner_text() == "1 submitted"
    assert page.get_by_test_id(f"area-progress-{east.pk}").inner_text() == "no annotations yet"
    area_rows = page.locator("#area-progress tbody").inner_text()
    assert "West block" in area_rows and "East block" in area_rows
    page.locator("#progress").scroll_into_view_if_needed()
    screenshot(page, "7-owner-project-progress")

    # --- a rejection becomes a task to fix, with the reason's first line --------------------
    rejected = client_for(cast.reviewer).post(
        f"/api/v1/annotations/{annotation.pk}/reject/",
        {"comment": "The field edge runs 5 m further north.\nSee the fence line."},
        format="json",
    )
    assert rejected.status_code == 200, rejected.content
    page = annotator.page
    page.reload()
    row = page.locator(f'#task-rejected-rows tr[data-annotation-id="{annotation.pk}"]')
    row.wait_for()
    assert "The field edge runs 5 m further north." in row.inner_text()
    assert "See the fence line" not in row.inner_text()
    screenshot(page, "8-annotator-rejected-to-fix")
    row.get_by_role("link", name=f"Go to Annotation #{annotation.pk}").click()
    page.wait_for_url(f"{app}/images/{image.pk}/map/?annotation={annotation.pk}")
    page.locator(".current-annotation").wait_for()

    assert annotator.console_errors == [] and owner.console_errors == []
    assert annotator.foreign_requests(own_hosts) == [] and owner.foreign_requests(own_hosts) == []


def test_a_reviewer_reshapes_reassigns_and_deletes_areas_and_a_viewer_only_sees_them(
    cast, ingested_image, browser_as, app, screenshot, wait_for
):
    from annotator.models import AssignedArea
    from annotator.workflow import assignments
    from tests.support.workflow import square

    image = ingested_image("naip_rgbn_utm14_2020.tif")
    centre = image.footprint.centroid
    north = assignments.create_area(
        cast.project,
        cast.owner,
        image_id=image.pk,
        geometry=square(centre.x, centre.y + 0.0015, half=0.001),
        assignee="annotator",
        name="North strip",
    )
    south = assignments.create_area(
        cast.project, cast.owner, image_id=image.pk, geometry=square(centre.x, centre.y - 0.0015, half=0.001)
    )
    before = shape(json.loads(north.geometry.geojson))

    page = browser_as("reviewer").page
    page.goto(f"{app}/images/{image.pk}/map/")
    page.locator("body[data-ready=true]").wait_for()
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()
    assert (
        page.locator(f'#area-list li[data-area-id="{south.pk}"]')
        .inner_text()
        .startswith(f"Area {south.pk} · unassigned")
    )

    page.get_by_role("button", name="Edit North strip").click()
    page.get_by_role("form", name="Edit the area").wait_for()
    page.get_by_label("Area name").fill("North strip, west part")
    page.get_by_label("Assign to").select_option("reviewer")
    corner = page.locator(".leaflet-marker-icon.marker-icon:not(.marker-icon-middle)").first
    b = corner.bounding_box()
    x, y = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 20, y - 15, steps=4)
    page.mouse.move(x - 40, y - 30, steps=4)
    page.mouse.up()
    screenshot(page, "1-reviewer-edits-an-area")
    page.get_by_role("button", name="Save area").click()
    page.get_by_text("Area “North strip, west part” saved, assigned to reviewer.").wait_for()
    north.refresh_from_db()
    assert (north.name, north.assignee) == ("North strip, west part", cast.reviewer)
    after = shape(json.loads(north.geometry.geojson))
    assert after.area > before.area * 1.02  # the corner dragged outwards grew it

    page.get_by_role("button", name=f"Delete Area {south.pk}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete area").click()
    page.get_by_text(f"Area “Area {south.pk}” deleted.").wait_for()
    assert not AssignedArea.objects.filter(pk=south.pk).exists()
    assert page.locator("#area-list li").count() == 1
    screenshot(page, "2-reviewer-deleted-one")

    viewer = browser_as("viewer").page
    viewer.goto(f"{app}/images/{image.pk}/map/")
    viewer.locator("body[data-ready=true]").wait_for()
    viewer.locator("#area-list li", has_text="North strip, west part · reviewer").wait_for()
    assert viewer.get_by_role("button", name="Area", exact=True).count() == 0
    assert viewer.locator("#area-list").get_by_role("button", name="Edit").count() == 0
    assert viewer.get_by_role("button", name="Next task").count() == 0
    screenshot(viewer, "3-viewer-sees-areas")
