"""An image's look and its dead ends, in Chromium: an owner previews and saves bands and
stretch, a failed image says why and offers Delete, missing pages say so with a way back,
areas read in m², ha or km², and neighbouring map tiles meet without a seam."""

from __future__ import annotations

import io
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.support.rasters import REPO

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

PREVIEW = ".bands-dialog .bands-preview-image"
PREVIEW_SETTLED = """([selector, previous]) => {
  const img = document.querySelector(selector);
  return img && img.dataset.state === "loaded" && img.getAttribute("src") !== previous;
}"""


def _preview_after(page, previous: str | None) -> tuple[str, bytes]:
    """Wait until the dialog shows a preview other than ``previous``; its URL and PNG bytes (from the tiler)."""
    page.wait_for_function(PREVIEW_SETTLED, arg=[PREVIEW, previous or ""])
    src = page.locator(PREVIEW).get_attribute("src")
    with urllib.request.urlopen(src, timeout=30) as response:  # noqa: S310 - the test's own tiler on loopback
        assert response.headers["Content-Type"] == "image/png"
        return src, response.read()


def test_an_annotator_sees_the_map_of_an_image_whose_encode_has_not_finished(
    cast, ingested_image, browser_as, app, screenshot
):
    from annotator.choices import ImageStatus
    from annotator.models import Image
    from annotator.sam2 import encode_jobs

    # Ingested (the COG exists), the encode running: what a 20,000² px image looks like for an hour.
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    job = encode_jobs.start_encode(image, cast.owner)
    job.mark_running()
    job.set_progress(0.3, "3/10 windows")
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.ENCODING)
    page = browser_as("annotator").page
    page.goto(f"{app}/images/{image.pk}/map/")
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()
    status = page.locator("#image-status")
    assert status.get_attribute("data-status") == ImageStatus.ENCODING
    assert "(encode 30%)" in status.inner_text()
    screenshot(page, "encoding")

    # The project page says the image need not wait for its encode.
    page.goto(f"{app}/projects/{cast.project.pk}/")
    hint = page.get_by_test_id(f"annotate-now-{image.pk}")
    assert hint.inner_text() == "You can annotate it now: the areas you click are encoded first."
    screenshot(page, "project-encoding")


def test_an_owner_previews_new_bands_and_stretch_then_saves_them_and_sam2_encodes_again(
    cast, ingested_image, browser_as, own_hosts, screenshot
):
    from annotator.models import Job

    image = ingested_image("naip_rgbn_utm14_2020.tif")
    stats = {s["band"]: s for s in image.band_stats}
    owner = browser_as("owner")
    page = owner.page
    page.goto(page.url + f"projects/{cast.project.pk}/")
    page.get_by_role("button", name=f"Bands and stretch of {image.name}").click()
    dialog = page.locator(".bands-dialog")
    dialog.get_by_role("heading", name="Bands and stretch").wait_for()

    # It opens on what the map shows now; nothing to save yet, and the Save button looks it.
    src_before, png_before = _preview_after(page, None)
    assert [dialog.get_by_label(f"{c} band").input_value() for c in ("Red", "Green", "Blue")] == ["1", "2", "3"]
    assert float(dialog.get_by_label("Red low").input_value()) == pytest.approx(image.stretch[0][0])
    assert float(dialog.get_by_label("Red high").input_value()) == pytest.approx(image.stretch[0][1])
    save = dialog.get_by_role("button", name="Save and encode again")
    assert save.is_disabled()
    look = save.evaluate("b => { const s = getComputedStyle(b); return [s.opacity, s.cursor]; }")
    assert float(look[0]) < 0.6 and look[1] == "not-allowed"
    screenshot(page, "opened")

    # Near-infrared as red: the band's own p2/p98 fill in, and the tiler renders it.
    dialog.get_by_label("Red band").select_option("4")
    assert float(dialog.get_by_label("Red low").input_value()) == pytest.approx(stats[4]["p2"])
    assert float(dialog.get_by_label("Red high").input_value()) == pytest.approx(stats[4]["p98"])
    src_nir, png_nir = _preview_after(page, src_before)
    assert "bidx=4" in src_nir and png_nir != png_before

    # A narrower green stretch changes the preview again.
    green_high = round((stats[2]["p2"] + stats[2]["p98"]) / 2, 1)
    dialog.get_by_label("Green high").fill(str(green_high))
    dialog.get_by_label("Green high").press("Enter")
    _src_green, png_green = _preview_after(page, src_nir)
    assert png_green != png_nir
    # The preview is the whole image rendered with those bands, not a placeholder.
    rendered = np.asarray(PILImage.open(io.BytesIO(png_green)).convert("RGB"))
    assert max(rendered.shape[:2]) == 480 and rendered.std() > 5
    screenshot(page, "preview")

    # A low above the high is refused before anything is sent.
    dialog.get_by_label("Blue low").fill("100000")
    dialog.get_by_label("Blue low").press("Enter")
    dialog.get_by_text("Blue: the high value must be above the low value.").wait_for()
    assert save.is_disabled()
    dialog.get_by_role("button", name="Reset every band").click()
    assert float(dialog.get_by_label("Green high").input_value()) == pytest.approx(stats[2]["p98"])
    dialog.get_by_label("Green high").fill(str(green_high))
    dialog.get_by_label("Green high").press("Enter")

    save.click()
    page.get_by_text(f"Saved: {image.name} shows bands 4, 2, 3").wait_for()
    image.refresh_from_db()
    assert image.band_mapping == [4, 2, 3]
    assert image.stretch[0] == pytest.approx([stats[4]["p2"], stats[4]["p98"]])
    assert image.stretch[1] == pytest.approx([stats[2]["p2"], green_high])
    job = Job.objects.get(kind="encode", target_id=image.pk)
    assert job.status in ("queued", "running") and job.created_by == cast.owner
    page.get_by_test_id(f"status-{image.pk}").filter(has_text="ready").wait_for()
    screenshot(page, "saved")
    assert owner.foreign_requests(own_hosts) == []
    assert owner.console_errors == []


def test_the_annotate_page_offers_bands_to_owners_and_redraws_its_tiles_with_the_saved_ones(
    cast, ingested_image, browser_as
):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    annotator = browser_as("annotator").page
    annotator.goto(annotator.url + f"images/{image.pk}/map/")
    annotator.locator("body[data-ready=true]").wait_for()
    assert annotator.locator("#bands-open").count() == 0

    page = browser_as("owner").page
    page.goto(page.url + f"images/{image.pk}/map/")
    page.locator("body[data-ready=true]").wait_for()
    tile = page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first
    tile.wait_for()
    before = tile.get_attribute("src")
    page.get_by_role("button", name="Bands and stretch…").click()
    _preview_after(page, None)
    page.locator(".bands-dialog").get_by_label("Red band").select_option("4")
    page.locator(".bands-dialog").get_by_role("button", name="Save and encode again").click()
    page.get_by_text(f"Saved: {image.name} shows bands 4, 2, 3").wait_for()
    # The tiles now come with a token that carries the new bands.
    page.wait_for_function(
        """(old) => [...document.querySelectorAll('[data-testid=image-tiles] img.leaflet-tile-loaded')]
                     .some((img) => img.src.split('/tiles/')[0] !== old.split('/tiles/')[0])""",
        arg=before,
    )


def test_a_failed_image_shows_its_error_and_delete_instead_of_a_map_with_tools(cast, browser_as, screenshot):
    from annotator.errors import InvalidRaster
    from annotator.imagery.ingest import ingest_image
    from annotator.models import Image
    from annotator.storage import get_storage

    image = Image.objects.create(project=cast.project, name="holiday-photo.tif", uploaded_by=cast.owner)
    image.original_key = f"{image.storage_prefix}/original.tif"
    get_storage().put_bytes(b"JFIF this is a photo, not a GeoTIFF" * 40, image.original_key)
    image.save()
    with pytest.raises(InvalidRaster):
        ingest_image(image)
    image.refresh_from_db()
    assert image.status == "failed" and image.error

    # The project page shows the sentence on the image's row.
    owner = browser_as("owner")
    page = owner.page
    page.goto(page.url + f"projects/{cast.project.pk}/")
    page.get_by_test_id(f"status-{image.pk}").filter(has_text=image.error).wait_for()
    assert page.get_by_role("button", name=f"Bands and stretch of {image.name}").count() == 0

    page.locator("#image-rows").get_by_role("link", name=image.name).click()
    panel = page.get_by_test_id("image-failed")
    panel.wait_for()
    assert page.get_by_test_id("image-error").inner_text() == image.error
    assert page.locator("#map").is_hidden()
    assert page.locator("[data-tool]").first.is_hidden() and page.locator(".map-page .bar").is_hidden()
    page.keyboard.press("?")  # the shortcut help belongs to the tools: it stays closed
    assert page.locator("#help").is_hidden()
    screenshot(page, "failed")

    page.get_by_role("button", name="Delete image…").click()
    page.get_by_test_id("annotation-count").filter(has_text="no annotations").wait_for()
    page.locator("dialog.confirm").get_by_role("button", name="Delete image").click()
    page.wait_for_url(f"**/projects/{cast.project.pk}/")
    page.get_by_text(f"Deleted {image.name}.").first.wait_for()
    assert not Image.objects.filter(pk=image.pk).exists()
    assert owner.console_errors == []


def test_an_annotator_sees_a_failed_images_error_without_delete(cast, browser_as):
    from annotator.models import Image

    image = Image.objects.create(
        project=cast.project, name="broken.tif", status="failed", error="Every pixel of the raster is nodata."
    )
    page = browser_as("annotator").page
    page.goto(page.url + f"images/{image.pk}/map/")
    page.get_by_test_id("image-error").filter(has_text="Every pixel of the raster is nodata.").wait_for()
    assert page.get_by_role("button", name="Delete image…").count() == 0
    assert page.get_by_role("link", name="Back to the project").is_visible()


def test_a_page_that_does_not_exist_is_the_apps_404_with_a_way_back(cast, browser_as, screenshot):
    page = browser_as("annotator").page
    page.goto(page.url + f"projects/{cast.project.pk}/")
    page.evaluate("location.assign('/projects/999999/')")
    page.get_by_role("heading", name="Page not found").wait_for()
    assert page.locator("header.top .brand").is_visible()
    screenshot(page, "404")
    page.get_by_role("link", name="Back to the previous page").click()
    page.wait_for_url(f"**/projects/{cast.project.pk}/")
    page.goto(page.url + "no/such/page/")
    page.get_by_role("link", name="Go to your projects").click()
    page.get_by_role("heading", name="Projects").wait_for()


AREAS_M2 = [0, 0.25, 9.96, 532.4, 9_999, 10_000, 12_345, 999_000, 1_000_000, 45_600_000, 123_456_789_000]


def test_areas_read_in_square_metres_hectares_or_square_kilometres(cast, browser_as):
    # The formatter every page bundles, run in Chromium from its source module.
    source = (REPO / "frontend" / "src" / "common.js").read_text()
    page = browser_as("annotator").page
    shown = page.evaluate(
        """async ([source, areas]) => {
             const module = await import("data:text/javascript;charset=utf-8," + encodeURIComponent(source));
             return areas.map((a) => module.formatArea(a));
           }""",
        [source, AREAS_M2],
    )
    assert shown == [
        "0 m²",
        "0.3 m²",
        "10 m²",
        "532 m²",
        "9,999 m²",
        "1 ha",
        "1.23 ha",
        "99.9 ha",
        "1 km²",
        "45.6 km²",
        "123,457 km²",
    ]


def test_the_dashboard_gives_the_annotated_area_in_the_unit_that_fits(cast, image, browser_as):
    from annotator.workflow import annotations

    # About 150 m x 220 m inside the image's footprint: a few hectares.
    square = {
        "type": "Polygon",
        "coordinates": [
            [[-98.695, 47.005], [-98.693, 47.005], [-98.693, 47.007], [-98.695, 47.007], [-98.695, 47.005]]
        ],
    }
    area_m2 = annotations.create_annotation(image, cast.annotator, square).area_m2
    assert 10_000 < area_m2 < 1_000_000
    page = browser_as("annotator").page
    page.goto(page.url + f"projects/{cast.project.pk}/dashboard/")
    card = page.get_by_test_id("area")
    card.filter(has_text=" ha").wait_for()
    value = re.match(r"([\d.]+) ha", card.locator(".n").inner_text())
    assert value and float(value.group(1)) == pytest.approx(area_m2 / 10_000, rel=5e-3)


# Tile seams: the map's background is made magenta, so a gap between tiles is a magenta
# line; an overlap drawn twice would be a bright line. Both are measured on the lines where
# tiles meet, against the picture's own texture (the median line-to-line change).
SEAM_LINE_RATIO = 3.5
TILE_EDGES = """() => {
  const map = document.getElementById('map').getBoundingClientRect();
  const tiles = [...document.querySelectorAll('[data-testid=image-tiles] img.leaflet-tile')]
    .map((i) => i.getBoundingClientRect());
  return {map: [map.x, map.y, map.width, map.height],
          xs: [...new Set(tiles.map((r) => Math.round(r.x)))], ys: [...new Set(tiles.map((r) => Math.round(r.y)))]};
}"""


def _line_changes(grey: np.ndarray) -> np.ndarray:
    """Mean absolute difference of each row with the mean of the rows two above and below."""
    return np.abs(grey[2:-2] - (grey[:-4] + grey[4:]) / 2).mean(axis=1)


def test_neighbouring_map_tiles_meet_without_a_seam_at_fractional_zoom(cast, ingested_image, browser_as, screenshot):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    page = browser_as("annotator").page
    page.goto(page.url + f"images/{image.pk}/map/")
    page.locator("body[data-ready=true]").wait_for()
    page.add_style_tag(content="#map.leaflet-container { background: rgb(255, 0, 255) !important; }")
    zoom = page.evaluate("window.geoprompt.map.getZoom()")
    page.evaluate(f"window.geoprompt.map.setZoom({zoom + 1.25}, {{animate: false}})")
    # One level of tiles, all loaded and faded in (the previous level is pruned).
    page.wait_for_function(
        """() => { const levels = document.querySelectorAll('[data-testid=image-tiles] .leaflet-tile-container');
                  const imgs = [...document.querySelectorAll('[data-testid=image-tiles] img.leaflet-tile')];
                  return levels.length === 1 && imgs.length >= 4 && imgs.every((i) =>
                    i.classList.contains('leaflet-tile-loaded') && getComputedStyle(i).opacity === '1'); }"""
    )
    edges = page.evaluate(TILE_EDGES)
    path: Path = screenshot(page, "fractional-zoom")
    shot = np.asarray(PILImage.open(path).convert("RGB")).astype(float)
    x, y, w, h = (round(v) for v in edges["map"])
    # NAIP fills the view at this zoom; the margins keep the zoom buttons and attribution out.
    x0, y0, x1, y1 = x + 40, y + 40, x + w - 40, y + h - 40
    inner = shot[y0:y1, x0:x1]
    tinted = (inner[..., 0] - inner[..., 1] > 25) & (inner[..., 2] - inner[..., 1] > 25)
    grey = inner.mean(axis=2)
    rows, cols = _line_changes(grey), _line_changes(grey.T)
    texture = float(np.median(np.concatenate([rows, cols])))
    worst = []
    for edge, origin, changes, share in (
        *((e, y0, rows, tinted.mean(axis=1)) for e in edges["ys"]),
        *((e, x0, cols, tinted.mean(axis=0)) for e in edges["xs"]),
    ):
        at = [edge - origin + d for d in (-1, 0, 1) if 2 <= edge - origin + d < len(changes) + 2]
        if at:
            worst.append((max(changes[i - 2] for i in at) / texture, max(share[i] for i in at)))
    ratio, magenta = max(r for r, _ in worst), max(m for _, m in worst)
    print(
        f"zoom {zoom + 1.25}: {len(worst)} tile edges in view; the sharpest changes {ratio:.1f} x the texture's, "
        f"at most {magenta:.0%} of an edge magenta"
    )
    assert len(worst) >= 3
    assert magenta < 0.2 and ratio < SEAM_LINE_RATIO
