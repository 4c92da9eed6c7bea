"""Adding imagery on the project page in Chromium. A resumable upload: the connection drops after
half the file, the owner reloads the page, is offered the unfinished upload, chooses the file
again and it goes on from the half (tus-js-client against the tus endpoint). Then Add by URL: a
GeoTIFF on an allowlisted server is imported, a host off the list is refused with the reason."""

from __future__ import annotations

import hashlib

import pytest

from tests.support.rasters import data_file
from tests.support.webserver import WebServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

RASTER = "rgba_uint16_utm12.tif"  # 23,465 bytes: two parts of 12 KiB


@pytest.fixture
def web():
    server = WebServer().start()
    server.files["/scenes/field.tif"] = ("image/tiff", data_file("landsat_rgb_utm18.tif").read_bytes())
    yield server
    server.stop()


def test_an_owner_continues_an_upload_after_a_reload_and_adds_an_image_by_url(
    web, cast, browser_as, settings, wait_for, own_hosts, screenshot
):
    from annotator.imagery import images as image_service
    from annotator.models import Image, ResumableUpload
    from annotator.storage import get_storage

    settings.RESUMABLE_CHUNK_BYTES = 12 * 1024
    settings.IMPORT_ALLOWLIST = ["http://127.0.0.1"]
    settings.IMPORT_ALLOW_LOOPBACK = True  # the test's own web server is on loopback
    raster = data_file(RASTER)
    owner = browser_as("owner")
    page = owner.page
    offsets_sent: list[str] = []
    page.on(
        "request",
        lambda r: offsets_sent.append(r.headers.get("upload-offset", "")) if r.method == "PATCH" else None,
    )

    # The connection drops after the first part: every later PATCH fails until the reload.
    def drop_after_the_first_part(route):
        if route.request.method == "PATCH" and ResumableUpload.objects.filter(offset__gt=0).exists():
            route.abort()
        else:
            route.continue_()

    page.route("**/uploads/**", drop_after_the_first_part)
    page.goto(page.url + f"projects/{cast.project.pk}/")
    page.locator("#class-list li", has_text="No label classes yet.").wait_for()
    page.get_by_label("Upload a GeoTIFF").set_input_files(str(raster))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Uploading rgba_uint16_utm12.tif: 52%").wait_for()
    # Playwright answers the page's requests (the route above) only while it is called: wait through it.
    assert wait_for(lambda: page.wait_for_timeout(100) or ResumableUpload.objects.filter(offset=12 * 1024).exists())
    screenshot(page, "interrupted")

    page.unroute("**/uploads/**")
    page.reload()
    unfinished = page.get_by_test_id("unfinished-upload")
    unfinished.filter(has_text="52% uploaded (12.0 KiB of 22.9 KiB)").wait_for()
    assert "rgba_uint16_utm12.tif" in unfinished.inner_text()
    screenshot(page, "offered")

    offsets_sent.clear()
    page.get_by_label("Upload a GeoTIFF").set_input_files(str(raster))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Uploaded rgba_uint16_utm12.tif; ingest queued.").wait_for()
    page.locator("#image-rows a", has_text=RASTER).wait_for()
    assert page.locator("#upload-pending").is_hidden()
    screenshot(page, "done")

    # Only the second half travelled after the reload; the server holds the same bytes, once.
    assert offsets_sent == [str(12 * 1024)]
    image = Image.objects.get(project=cast.project)
    image_service.store_original(image)
    with get_storage().open_read(image.original_key) as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == hashlib.sha256(raster.read_bytes()).hexdigest()

    form = page.locator("#import-form")
    form.get_by_label("Add by URL").fill("https://elsewhere.example.com/scene.tif")
    form.get_by_role("button", name="Add").click()
    page.get_by_text(
        "Not imported: The host elsewhere.example.com is not on this server's import allowlist."
    ).wait_for()
    form.get_by_label("Add by URL").fill(f"{web.url}/scenes/field.tif")
    form.get_by_role("button", name="Add").click()
    page.get_by_text("Importing field.tif: the raster is copied, then ingested.").wait_for()
    page.locator("#image-rows a", has_text="field.tif").wait_for()
    screenshot(page, "imported")
    assert Image.objects.get(name="field.tif").source_url == f"{web.url}/scenes/field.tif"
    assert owner.foreign_requests(own_hosts) == []
    assert owner.console_errors == []
