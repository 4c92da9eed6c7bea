"""The whole loop in Chromium against the real app, tiler and worker.

An annotator clicks on the demo image (ingested and encoded by the worker with the
untrained tiny SAM2), sees a polygon, adds a negative point, accepts, drags a vertex,
picks a label and submits; a reviewer rejects with a comment; the annotator fixes and
resubmits; the reviewer approves; the dashboard shows the counts; the approved
annotation is exported and downloaded.
"""

from __future__ import annotations

import json
import zipfile

import pytest
from django.contrib.gis.geos import GEOSGeometry
from shapely.geometry import shape

from tests.support.rasters import data_file

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

STATE = "() => window.geoprompt.state()"
# One SAM2 window (1024 x 1024). With untrained weights the NAIP scenes give masks of
# 10-20 thousand vertices (beyond MAX_ANNOTATION_VERTICES); the hillshade gives small ones.
DEMO = "hillshade_1band_3857.tif"


def upload_and_encode(cast, client_for, wait_for):
    """Upload the demo image through the API; the worker ingests and encodes it."""
    from annotator.models import Image

    with open(data_file(DEMO), "rb") as fh:
        response = client_for(cast.owner).post(
            f"/api/v1/projects/{cast.project.pk}/images/", {"file": fh}, format="multipart"
        )
    assert response.status_code == 201, response.content
    image = Image.objects.get(pk=response.json()["id"])
    assert wait_for(lambda: Image.objects.get(pk=image.pk).status in ("encoded", "failed"), interval_s=0.5)
    image.refresh_from_db()
    assert image.status == "encoded", image.error
    return image


def wait_segments(page, count: int) -> dict:
    page.wait_for_function(f"window.geoprompt.state().segments >= {count}")
    return page.evaluate(STATE)


def editable(preview: dict | None) -> bool:
    """A polygon one can edit by hand (untrained weights also give empty masks, or masks
    with thousands of vertices on busy images)."""
    if not preview or not preview["geometry"]:
        return False
    polygon = shape(preview["geometry"])
    rings = [r for p in getattr(polygon, "geoms", [polygon]) for r in [p.exterior, *p.interiors]]
    return sum(len(r.coords) for r in rings) <= 2000


def click_until_polygon(page) -> tuple[dict, tuple[float, float]]:
    """Click points of a grid over the image until SAM2 returns an editable polygon;
    returns the page state and the click (screen pixels)."""
    box = page.locator("#map").bounding_box()
    grid = [(0.5, 0.5)] + [(fx / 10, fy / 10) for fy in range(3, 8) for fx in range(3, 8)]
    for fx, fy in grid:
        x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
        done = page.evaluate(STATE)["segments"]
        page.mouse.click(x, y)
        state = wait_segments(page, done + 1)
        if editable(state["preview"]):
            return state, (x, y)
        page.keyboard.press("Escape")
    pytest.fail("no click gave an editable polygon")


def drag_a_vertex(page, dx: float, dy: float) -> None:
    """Drag the vertex handle farthest from its neighbours (masks can have crowded edges)."""
    page.locator(".leaflet-marker-icon.marker-icon:not(.marker-icon-middle)").first.wait_for()
    script = """() => {
          const c = [...document.querySelectorAll('.leaflet-marker-icon.marker-icon:not(.marker-icon-middle)')]
            .map((m) => { const r = m.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; });
          let best = c[0], gap = -1;
          for (const p of c) {
            const d = Math.min(...c.filter((q) => q !== p).map((q) => Math.hypot(q[0] - p[0], q[1] - p[1])));
            if (d > gap) { gap = d; best = p; }
          }
          return best;
        }"""
    # A page that has just opened may still be zooming to the annotation: take the handle
    # once the page says its first view is set and the handle has stopped moving, or the
    # press lands beside it and pans the map instead.
    page.locator("body[data-ready=true]").wait_for()
    x, y = page.evaluate(script)
    for _ in range(50):
        page.wait_for_timeout(100)
        again = page.evaluate(script)
        if abs(again[0] - x) < 0.5 and abs(again[1] - y) < 0.5:
            break
        x, y = again
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=4)
    page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()


def wait_saved(page, wait_for, annotation, before: int) -> None:
    """Wait until the page has saved a version newer than ``before``."""
    from annotator.models import Annotation

    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).version > before)
    page.locator("#save-status", has_text="Saved").wait_for()
    annotation.refresh_from_db()


def test_annotate_review_reject_fix_approve_and_dashboard(
    cast, celery_worker, client_for, wait_for, browser_as, own_hosts, screenshot, app
):
    from annotator.models import Annotation, LabelClass

    LabelClass.objects.create(project=cast.project, name="field", colour="#eab308", order=1)
    pond = LabelClass.objects.create(project=cast.project, name="pond", colour="#0ea5e9", order=2)
    image = upload_and_encode(cast, client_for, wait_for)

    # --- the annotator: click, negative point, undo/redo, accept, drag, label, submit ---
    annotator = browser_as("annotator")
    page = annotator.page
    page.goto(f"{app}/images/{image.pk}/map/")
    page.locator("#image-status[data-status=encoded]").wait_for()
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()
    assert page.locator("#untrained-banner").is_visible()  # the tiny model has no checkpoint here

    state, (x, y) = click_until_polygon(page)
    first_preview = shape(state["preview"]["geometry"])
    latency_ms = int(page.locator("#segment-status").get_attribute("data-latency-ms"))
    assert page.locator("#segment-status").inner_text().startswith("Last segment:")
    assert page.locator("#model-status").inner_text() == "Model: sam2.1_hiera_tiny"
    assert page.locator(".prompt-positive").count() == 1
    screenshot(page, "1-preview")

    done = state["segments"]
    page.keyboard.down("Alt")
    page.mouse.click(x + 25, y + 20)
    page.keyboard.up("Alt")
    state = wait_segments(page, done + 1)
    assert [p["positive"] for p in state["prompt"]["points"]] == [True, False]
    assert page.locator(".prompt-negative").count() == 1
    page.keyboard.press("Control+z")
    state = wait_segments(page, done + 2)
    assert len(state["prompt"]["points"]) == 1 and state["redo"] == 1
    page.keyboard.press("Control+Shift+z")
    state = wait_segments(page, done + 3)
    assert [p["positive"] for p in state["prompt"]["points"]] == [True, False]
    if not editable(state["preview"]):
        # The negative point spoilt the (meaningless) mask: take it back.
        page.keyboard.press("Control+z")
        state = wait_segments(page, done + 4)
    accepted_preview = shape(state["preview"]["geometry"])

    page.keyboard.press("Enter")
    page.locator(".current-annotation").wait_for()
    annotation = Annotation.objects.get(image=image)
    assert annotation.source == "sam" and annotation.state == "draft" and annotation.version == 1
    # The SAM2 figures come from the prompt session, server-side (tests/segment/test_click_provenance.py).
    assert annotation.provenance["predicted_iou"] == state["preview"]["properties"]["predicted_iou"]
    assert annotation.risk is not None
    assert shape(json.loads(annotation.geometry.geojson)).symmetric_difference(accepted_preview).area < (
        0.01 * accepted_preview.area
    )
    assert page.evaluate(STATE)["prompt"]["points"] == []  # accepting clears the prompt

    drag_a_vertex(page, 30, 25)
    wait_saved(page, wait_for, annotation, 1)
    assert not annotation.geometry.equals_exact(GEOSGeometry(json.dumps(state["preview"]["geometry"])), 1e-9)
    dragged = annotation.geometry.clone()

    page.keyboard.press("2")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).label_class_id == pond.pk)
    assert page.locator("#label-status").inner_text() == "Label: pond"
    screenshot(page, "2-edited")

    page.keyboard.press("s")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).state == "submitted")
    page.locator(".current-annotation").wait_for(state="detached")

    # --- the reviewer rejects with a comment (required) ---
    reviewer = browser_as("reviewer")
    rpage = reviewer.page
    rpage.goto(f"{app}/projects/{cast.project.pk}/review/")
    rpage.locator(f'#map[data-annotation-id="{annotation.pk}"]').wait_for()
    assert "pond" in rpage.locator("#review-item").inner_text()
    rpage.keyboard.press("r")
    rpage.locator("#reject-comment").wait_for()
    rpage.keyboard.press("Control+Enter")  # empty: refused by the form
    assert rpage.locator("#reject-dialog").is_visible()
    rpage.keyboard.type("Follow the field edge on the east side")
    screenshot(rpage, "3-reject")
    rpage.keyboard.press("Control+Enter")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).state == "rejected")
    rpage.get_by_text("Nothing to review").wait_for()

    # --- the annotator fixes it and submits again ---
    page.goto(f"{app}/images/{image.pk}/map/?annotation={annotation.pk}")
    page.locator(".current-annotation").wait_for()
    page.locator("#selection", has_text="rejected").wait_for()
    rejected_version = Annotation.objects.get(pk=annotation.pk).version
    drag_a_vertex(page, -15, 10)
    wait_saved(page, wait_for, annotation, rejected_version)
    assert annotation.state == "draft" and not annotation.geometry.equals_exact(dragged, 1e-9)
    page.keyboard.press("s")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).state == "submitted")

    # --- the reviewer sees the comment pinned on the map and approves ---
    rpage.reload()
    rpage.locator(f'#map[data-annotation-id="{annotation.pk}"]').wait_for()
    rpage.locator(".comment-pin", has_text="Follow the field edge").wait_for()
    screenshot(rpage, "4-approve")
    rpage.keyboard.press("a")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).state == "approved")
    rpage.get_by_text("Nothing to review").wait_for()

    # --- the dashboard shows the counts, as charts and a table ---
    rpage.goto(f"{app}/projects/{cast.project.pk}/dashboard/")
    rpage.locator("#dashboard[data-loaded=true]").wait_for()
    assert rpage.get_by_test_id("count-total").locator(".n").inner_text() == "1"
    assert rpage.get_by_test_id("count-approved").locator(".n").inner_text() == "1"
    assert rpage.get_by_test_id("count-rejected").locator(".n").inner_text() == "0"
    row = rpage.locator('#annotator-table tr[data-username="annotator"]').inner_text().split("\t")
    # approved now, but rejected once on the way: one rejection ever, first-pass rate 0 %
    assert row[:8] == ["annotator", "1", "0", "1", "0", "1", "0 %", "1"]
    record = rpage.locator('[data-testid=review-record][data-username="annotator"]')
    assert "1 rejection" in record.inner_text()
    assert "first-pass approval rate 0 %" in record.inner_text()
    painted = rpage.evaluate(
        """() => [...document.querySelectorAll('canvas')].map((c) => {
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })"""
    )
    assert len(painted) == 6 and all(n > 0 for n in painted), painted
    screenshot(rpage, "5-dashboard")

    # --- an export of the approved annotation, downloaded from the exports page ---
    rpage.get_by_role("link", name="Exports").click()
    rpage.get_by_role("button", name="Start export").click()
    rpage.locator("#export-rows tr[data-status=succeeded]").wait_for()
    with rpage.expect_download() as download_info:
        rpage.get_by_role("link", name="Download").click()
    archive = zipfile.ZipFile(download_info.value.path())
    geojson = [n for n in archive.namelist() if n.endswith(".geojson")]
    assert geojson, archive.namelist()
    assert len(json.loads(archive.read(geojson[0]))["features"]) == 1
    screenshot(rpage, "6-export")

    assert annotator.foreign_requests(own_hosts) == []
    assert reviewer.foreign_requests(own_hosts) == []
    assert annotator.console_errors == [] and reviewer.console_errors == []
    print(f"segment round trip {latency_ms} ms; first preview area {first_preview.area:.3g} deg²")
