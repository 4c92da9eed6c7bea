"""What the annotate page lets each persona do with an annotation, in Chromium against the
live app: read-only work sends nothing, an unchanged annotation is not saved again, Shift
prompts on top of an existing polygon, a 10,000-vertex outline stays responsive, and a
viewer sees no tools they cannot use."""

from __future__ import annotations

import json
import math

import pytest
from shapely.geometry import shape

from tests.support.sam2 import encode_cached

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

STATE = "() => window.geoprompt.state()"
HANDLES = ".leaflet-marker-icon.marker-icon:not(.marker-icon-middle)"
# One SAM2 window with small masks under the untrained tiny model (see test_workflow.py).
DEMO = "hillshade_1band_3857.tif"


def box_around_centre(image, fraction: float) -> dict:
    """A GeoJSON Polygon (EPSG:4326): the middle ``fraction`` of the image's footprint."""
    west, south, east, north = image.footprint.extent
    cx, cy = (west + east) / 2, (south + north) / 2
    hx, hy = (east - west) * fraction / 2, (north - south) * fraction / 2
    ring = [[cx - hx, cy - hy], [cx + hx, cy - hy], [cx + hx, cy + hy], [cx - hx, cy + hy]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def ragged_circle(image, vertices: int, fraction: float = 0.3) -> dict:
    """A GeoJSON Polygon (EPSG:4326) of ``vertices`` distinct vertices: a circle around the
    footprint's centre with a ragged edge, as a SAM2 mask outline has."""
    west, south, east, north = image.footprint.extent
    cx, cy = (west + east) / 2, (south + north) / 2
    rx, ry = (east - west) * fraction / 2, (north - south) * fraction / 2
    ring = []
    for k in range(vertices):
        angle = 2 * math.pi * k / vertices
        wobble = 1 + 0.01 * math.sin(37 * angle) + 0.005 * math.sin(211 * angle)
        ring.append([cx + rx * wobble * math.cos(angle), cy + ry * wobble * math.sin(angle)])
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def open_map(page, app, image, annotation=None) -> None:
    query = f"?annotation={annotation.pk}" if annotation is not None else ""
    page.goto(f"{app}/images/{image.pk}/map/{query}")
    page.locator("body[data-ready=true]").wait_for()


def changes_sent(session) -> list[str]:
    """The API requests of a page that would change something (anything but GET)."""
    return [f"{r.method} {r.url}" for r in session.writes]


def record_writes(session) -> None:
    """Record the page's API writes; its reports of the map view to the encoder's priorities
    (``encode-focus``, sent while an image is still encoding) change no annotation."""
    session.writes = []
    session.page.on(
        "request",
        lambda r: r.method != "GET" and "/api/" in r.url and "/encode-focus/" not in r.url and session.writes.append(r),
    )


def screen_point(page, lng: float, lat: float) -> tuple[float, float]:
    """Where (lng, lat) in EPSG:4326 is on the screen, in page pixels."""
    x, y = page.evaluate(
        "([lat, lng]) => { const p = window.geoprompt.map.latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }",
        [lat, lng],
    )
    box = page.locator("#map").bounding_box()
    return box["x"] + x, box["y"] + y


def click_annotation(page, lng: float, lat: float) -> None:
    """Click the annotations layer at (lng, lat), once it holds a polygon again (it reloads
    after each selection and deselection)."""
    page.locator("path.leaflet-interactive:not(.current-annotation)").first.wait_for()
    page.mouse.click(*screen_point(page, lng, lat))


def test_an_annotators_submitted_work_is_read_only_and_trying_to_edit_it_sends_nothing(
    cast, ingested_image, browser_as, app, screenshot, wait_for
):
    from annotator.models import Annotation, AnnotationVersion, LabelClass
    from annotator.workflow import annotations

    LabelClass.objects.create(project=cast.project, name="field", colour="#eab308")
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    annotation = annotations.create_annotation(image, cast.annotator, box_around_centre(image, 0.4))
    session = browser_as("annotator")
    page = session.page
    record_writes(session)

    # The author submits their unchanged draft: no save goes out before the submit, and the
    # panel does not blame anyone afterwards.
    open_map(page, app, image, annotation)
    page.locator("#selection", has_text="draft · v1").wait_for()
    assert page.locator(HANDLES).count() == 4
    page.keyboard.press("s")
    page.get_by_text(f"Annotation #{annotation.pk} submitted for review.").wait_for()
    page.locator(".current-annotation").wait_for(state="detached")
    assert [w.split(" ")[0] for w in changes_sent(session)] == ["POST"]  # the submit, nothing else
    assert page.locator("#save-status").inner_text() == ""
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).state == "submitted")

    # Opened again it is read only: no handles, the label buttons are off.
    session.writes.clear()
    open_map(page, app, image, annotation)
    page.locator("#selection", has_text="read only").wait_for()
    assert "submitted · v2" in page.locator("#selection").inner_text()
    assert page.locator(HANDLES).count() == 0
    assert page.locator("#classes button").first.is_disabled()

    # Every way of editing it is refused on the page, with a reason, and nothing is sent.
    page.keyboard.press("h")  # pan, so that a drag on a corner is not a box prompt
    corner = annotation.geometry.coords[0][0][0]
    x, y = screen_point(page, *corner)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 30, y - 20, steps=4)
    page.mouse.up()
    page.keyboard.press("1")
    page.locator("#save-status", has_text="is read only (submitted): its label stays as it is").wait_for()
    screenshot(page, "read-only")
    page.keyboard.press("Control+s")
    page.locator("#save-status", has_text="nothing to save").wait_for()
    page.keyboard.press("Delete")
    page.get_by_text(f"You cannot delete annotation #{annotation.pk} now (it is submitted).").wait_for()
    page.keyboard.press("s")
    page.get_by_text(f"You cannot submit annotation #{annotation.pk} now (it is submitted).").wait_for()
    page.keyboard.press("Escape")
    page.locator(".current-annotation").wait_for(state="detached")
    # The status belonged to that selection: it goes with it.
    assert page.locator("#save-status").inner_text() == ""
    assert changes_sent(session) == []
    assert AnnotationVersion.objects.filter(annotation=annotation).count() == 2
    assert session.console_errors == []


def test_esc_on_an_unchanged_annotation_saves_no_version_and_a_real_edit_still_saves(
    cast, ingested_image, browser_as, app, wait_for
):
    from annotator.models import Annotation, AnnotationVersion
    from annotator.workflow import annotations

    image = ingested_image("naip_rgbn_utm14_2020.tif")
    annotation = annotations.create_annotation(image, cast.annotator, box_around_centre(image, 0.4))
    session = browser_as("annotator")
    page = session.page
    record_writes(session)
    open_map(page, app, image, annotation)
    page.locator(HANDLES).first.wait_for()

    page.keyboard.press("Escape")
    page.locator(".current-annotation").wait_for(state="detached")
    page.locator("#selection", has_text="Nothing selected.").wait_for()
    # Selected again by a click on it, and let go again.
    centre = annotation.geometry.centroid
    click_annotation(page, centre.x, centre.y)
    page.locator("#selection", has_text=f"Annotation #{annotation.pk}").wait_for()
    page.keyboard.press("Control+s")
    page.locator("#save-status", has_text="No changes to save: v1 is on the server.").wait_for()
    page.keyboard.press("Escape")
    page.locator(".current-annotation").wait_for(state="detached")
    assert changes_sent(session) == []
    assert AnnotationVersion.objects.filter(annotation=annotation).count() == 1

    # A moved vertex is a change: it is saved as version 2.
    click_annotation(page, centre.x, centre.y)
    handle = page.locator(HANDLES).first
    handle.wait_for()
    b = handle.bounding_box()
    x, y = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 30, y - 25, steps=5)
    page.mouse.up()
    page.locator("#save-status", has_text="Saved v2").wait_for()
    assert wait_for(lambda: AnnotationVersion.objects.filter(annotation=annotation).count() == 2)
    page.keyboard.press("Escape")
    page.locator(".current-annotation").wait_for(state="detached")
    assert [w.split(" ")[0] for w in changes_sent(session)] == ["PATCH"]
    assert Annotation.objects.get(pk=annotation.pk).version == 2


def test_a_shift_click_inside_an_existing_polygon_starts_a_sam_prompt_and_a_plain_click_selects(
    cast, ingested_image, browser_as, app, screenshot, wait_for
):
    from annotator.models import Annotation
    from annotator.workflow import annotations

    image = encode_cached(ingested_image(DEMO))
    field = annotations.create_annotation(image, cast.annotator, box_around_centre(image, 0.6))
    page = browser_as("annotator").page
    open_map(page, app, image)
    centre = field.geometry.centroid
    x, y = screen_point(page, centre.x, centre.y)

    page.mouse.click(x, y)
    page.locator("#selection", has_text=f"Annotation #{field.pk}").wait_for()
    state = page.evaluate(STATE)
    assert state["current"]["id"] == field.pk and state["prompt"]["points"] == [] and state["segments"] == 0
    page.keyboard.press("Escape")
    page.locator(".current-annotation").wait_for(state="detached")

    # Shift: the click goes through the field to SAM2, as a new prompt.
    page.keyboard.down("Shift")
    page.mouse.click(x + 10, y + 10)
    page.keyboard.up("Shift")
    page.wait_for_function("window.geoprompt.state().segments >= 1")
    state = page.evaluate(STATE)
    assert state["current"] is None
    assert [p["positive"] for p in state["prompt"]["points"]] == [True]
    assert page.locator(".prompt-positive").count() == 1
    screenshot(page, "shift-click")
    page.keyboard.press("Escape")

    # The toolbar's toggle keeps it on: manual polygon vertices land inside the field too.
    page.get_by_role("button", name="On top (O)").click()
    assert page.get_by_role("button", name="On top (O)").get_attribute("aria-pressed") == "true"
    page.keyboard.press("p")
    corners = [(x - 40, y - 40), (x + 40, y - 40), (x + 40, y + 40), (x - 40, y + 40), (x - 40, y - 40)]
    for cx, cy in corners:
        page.mouse.click(cx, cy)
    assert wait_for(lambda: Annotation.objects.filter(image=image).count() == 2)
    building = Annotation.objects.exclude(pk=field.pk).get(image=image)
    assert shape(json.loads(field.geometry.geojson)).contains(shape(json.loads(building.geometry.geojson)))
    page.locator("#selection", has_text=f"Annotation #{building.pk}").wait_for()
    screenshot(page, "drawn-on-top")


def test_selecting_and_dragging_a_vertex_of_a_10000_vertex_outline_stays_responsive(
    cast, ingested_image, client_for, browser_as, app, screenshot, wait_for, settings
):
    from annotator.models import Annotation

    image = ingested_image("naip_rgbn_utm14_2020.tif")
    outline = ragged_circle(image, settings.MAX_ANNOTATION_VERTICES - 1)  # + the closing vertex
    created = client_for(cast.annotator).post(
        f"/api/v1/projects/{cast.project.pk}/annotations/",
        {"image": image.pk, "geometry": outline, "source": "manual"},
        format="json",
    )
    assert created.status_code == 201, created.content
    annotation = Annotation.objects.get(pk=created.json()["id"])
    assert annotation.geometry.num_coords == 10_000
    session = browser_as("annotator")
    page = session.page
    open_map(page, app, image)
    page.locator("#annotation-count", has_text="1 annotation").wait_for()

    # Select it with a click just inside its edge, timed in the page: from the click to the
    # first animation frame that shows it selected with its handles.
    ring = outline["coordinates"][0]
    target = ring[len(ring) // 8]
    west, south, east, north = image.footprint.extent
    cx, cy = (west + east) / 2, (south + north) / 2
    inside = (target[0] + (cx - target[0]) * 0.03, target[1] + (cy - target[1]) * 0.03)
    page.evaluate(
        """(id) => {
          window.timing = {};
          document.addEventListener("click", () => {
            const t0 = performance.now();
            const frame = () => {
              const s = window.geoprompt.state();
              if (s.current && s.current.id === id && document.querySelector(".leaflet-marker-icon.marker-icon")) {
                window.timing.select = performance.now() - t0;
              } else requestAnimationFrame(frame);
            };
            requestAnimationFrame(frame);
          }, { capture: true, once: true });
        }""",
        annotation.pk,
    )
    page.mouse.click(*screen_point(page, *inside))
    page.wait_for_function("window.timing.select !== undefined")
    select_ms = page.evaluate("window.timing.select")
    handles = page.locator(HANDLES).count()
    print(f"select: {select_ms:.0f} ms, {handles} handles")
    screenshot(page, "selected")

    # Drag the handle nearest the target vertex; each pointer move is timed to the next frame.
    x, y = screen_point(page, *target)
    page.mouse.move(x, y)
    page.wait_for_function("document.querySelectorAll('.leaflet-marker-icon.marker-icon').length > 0")
    hx, hy = page.evaluate(
        """([x, y]) => {
          const map = document.getElementById("map").getBoundingClientRect();
          let best = null, gap = Infinity;
          for (const m of document.querySelectorAll(".leaflet-marker-icon.marker-icon")) {
            const r = m.getBoundingClientRect();
            const d = Math.hypot(r.x + r.width / 2 - x, r.y + r.height / 2 - y);
            if (d < gap) { gap = d; best = [r.x + r.width / 2, r.y + r.height / 2]; }
          }
          return best;
        }""",
        [x, y],
    )
    page.evaluate(
        """() => {
          window.timing.moves = [];
          window.moveTimer = (e) => {
            if (!e.buttons) return;
            const t0 = performance.now();
            requestAnimationFrame(() => window.timing.moves.push(performance.now() - t0));
          };
          document.addEventListener("mousemove", window.moveTimer, { capture: true });
        }"""
    )
    # Outwards, away from the centre, so that the moved edges cross nothing.
    ox, oy = screen_point(page, cx, cy)
    dx, dy = (hx - ox) / math.hypot(hx - ox, hy - oy), (hy - oy) / math.hypot(hx - ox, hy - oy)
    page.mouse.move(hx, hy)
    page.mouse.down()
    page.mouse.move(hx + 25 * dx, hy + 25 * dy, steps=10)
    page.mouse.move(hx + 50 * dx, hy + 50 * dy, steps=10)
    page.mouse.up()
    page.evaluate("() => document.removeEventListener('mousemove', window.moveTimer, { capture: true })")
    moves = page.evaluate("window.timing.moves")
    page.wait_for_function("document.getElementById('save-status').textContent !== ''")
    page.locator("#save-status", has_text="Sav").wait_for(timeout=10_000)
    page.locator("#save-status", has_text="Saved v2").wait_for()
    screenshot(page, "dragged")

    drag_ms = max(moves)
    print(
        f"10,000-vertex outline: select {select_ms:.0f} ms to the first frame with handles ({handles} handles); "
        f"drag: slowest of {len(moves)} moves {drag_ms:.0f} ms, median {sorted(moves)[len(moves) // 2]:.0f} ms "
        "to the next frame (goal 200 ms)"
    )
    # The goal is 200 ms; on a loaded CI machine only a freeze (the old behaviour: 15 s) fails.
    assert select_ms < 2000 and drag_ms < 2000
    assert 0 < handles <= 150  # never one handle per vertex
    annotation.refresh_from_db()
    before = ring
    after = json.loads(annotation.geometry.geojson)["coordinates"][0][0]
    assert len(after) == len(before)
    moved = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if math.dist(a, b) > 1e-9]
    # Only the dragged vertex moved; every other keeps its exact coordinates.
    assert len(moved) == 1 or (len(moved) == 2 and moved == [0, len(after) - 1]), moved
    assert session.console_errors == []


def test_a_viewer_sees_no_tools_they_cannot_use_and_the_status_bar_fits_on_one_line(
    cast, ingested_image, browser_as, app, screenshot
):
    from annotator.workflow import annotations

    image = ingested_image("naip_rgbn_utm14_2020.tif")
    # A long name, as uploads have: the status bar must still keep to one line.
    image.name = "naip_rgbn_utm14_2020_north_dakota_prairie_pothole_region_flight_line_17_mosaic.tif"
    image.save(update_fields=["name"])
    annotation = annotations.create_annotation(image, cast.annotator, box_around_centre(image, 0.4))
    session = browser_as("viewer")
    page = session.page
    record_writes(session)
    open_map(page, app, image)

    assert not page.locator(".toolbar[aria-label=Tools]").is_visible()
    assert (
        page.get_by_role("button", name="SAM2 (T)").count() == 0
        or not page.get_by_role("button", name="SAM2 (T)").is_visible()
    )
    hint = page.locator("#hint").inner_text()
    assert "positive point" not in hint and "submit" not in hint and "Click a polygon: select it" in hint
    page.keyboard.press("?")
    keys = page.locator("#help-keys").inner_text()
    assert "submit" not in keys and "box prompt" not in keys and "manual polygon" not in keys
    page.keyboard.press("Escape")

    # Keys of the tools do nothing; a click on the image is no prompt; a click on a polygon
    # opens it read only.
    for key in ("p", "t", "s", "1", "Enter"):
        page.keyboard.press(key)
    state = page.evaluate(STATE)
    assert state["tool"] == "pan" and state["prompt"]["points"] == []
    centre = annotation.geometry.centroid
    page.mouse.click(*screen_point(page, centre.x, centre.y))
    page.locator("#selection", has_text="read only").wait_for()
    assert page.locator(HANDLES).count() == 0
    screenshot(page, "viewer")
    assert changes_sent(session) == []

    # The status bar keeps to one line at 1366 px, whatever its parts say.
    bar = page.locator(".map-page .bar")
    line = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('.map-page .bar')).lineHeight) || 18"
    )
    assert bar.bounding_box()["height"] < 2 * line + 12, bar.bounding_box()

    annotator = browser_as("annotator").page
    open_map(annotator, app, image)
    assert annotator.get_by_role("button", name="SAM2 (T)").is_visible()
    assert annotator.get_by_role("button", name="On top (O)").is_visible()
    bar = annotator.locator(".map-page .bar")
    assert bar.bounding_box()["height"] < 2 * line + 12, bar.bounding_box()
    screenshot(annotator, "annotator-bar")


def test_submitting_work_already_submitted_in_another_tab_says_so_instead_of_blaming_someone_else(
    cast, ingested_image, client_for, browser_as, app, screenshot
):
    from annotator.workflow import annotations

    image = ingested_image("naip_rgbn_utm14_2020.tif")
    annotation = annotations.create_annotation(image, cast.annotator, box_around_centre(image, 0.4))
    page = browser_as("annotator").page
    open_map(page, app, image, annotation)
    page.locator(HANDLES).first.wait_for()

    other_tab = client_for(cast.annotator).post(f"/api/v1/annotations/{annotation.pk}/submit/", {}, format="json")
    assert other_tab.status_code == 200, other_tab.content
    page.keyboard.press("s")  # this page still shows the draft
    status = page.locator("#save-status", has_text=f"Annotation #{annotation.pk} is already submitted")
    status.wait_for()
    assert "someone else" not in status.inner_text().lower()
    assert not page.locator("#stale").is_visible()
    page.locator("#selection", has_text="read only").wait_for()
    assert page.locator(HANDLES).count() == 0
    screenshot(page, "already-submitted")
