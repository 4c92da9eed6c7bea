"""The project page in Chromium: upload with a progress bar, live ingest and encode status,
label classes and members (owners), a read-only view for annotators."""

from __future__ import annotations

import time

import pytest

from tests.support.rasters import data_file

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

# Records every job progress bar the page shows, whatever its lifetime.
WATCH_PROGRESS = """
window.__progressSeen = [];
new MutationObserver(() => {
  document.querySelectorAll("#image-rows .job span").forEach((s) => {
    if (!window.__progressSeen.includes(s.textContent)) window.__progressSeen.push(s.textContent);
  });
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def test_an_owner_uploads_an_image_and_watches_ingest_and_encoding_finish(
    cast, celery_worker, browser_as, own_hosts, screenshot
):
    from annotator.models import Image, LabelClass, Membership

    owner = browser_as("owner")
    page = owner.page
    page.add_init_script(WATCH_PROGRESS)
    page.get_by_role("link", name="Prairie fields").click()
    page.get_by_role("heading", name="Prairie fields").wait_for()
    # The class list is drawn by the page's script, which also takes over the form: filled
    # before that, the form would be sent by the browser itself and reload the page.
    page.locator("#class-list li", has_text="No label classes yet.").wait_for()

    page.locator("#class-form").get_by_label("Name").fill("field")
    page.locator("#class-form").get_by_role("button", name="Add class").click()
    page.locator("#class-list").get_by_label("Name of field").wait_for()
    assert LabelClass.objects.filter(project=cast.project, name="field").exists()

    page.get_by_label("Role of viewer").select_option("reviewer")
    page.get_by_text("viewer is now reviewer").wait_for()
    assert Membership.objects.get(project=cast.project, user=cast.viewer).role == "reviewer"

    page.get_by_label("Upload a GeoTIFF").set_input_files(str(data_file("naip_rgbn_utm14_2020.tif")))
    started = time.monotonic()
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("ingest queued").wait_for()
    assert page.locator("#upload-progress").evaluate("p => p.value") == 1
    image = Image.objects.get(project=cast.project)
    status = page.get_by_test_id(f"status-{image.pk}")
    status.filter(has_text="encoded").wait_for()
    encoded_after_s = time.monotonic() - started
    screenshot(page, "encoded")

    image.refresh_from_db()
    assert image.status == "encoded"
    seen = page.evaluate("window.__progressSeen")
    assert any(text.startswith(("ingest", "encode")) for text in seen), seen
    row = page.locator(f'#image-rows tr[data-image-id="{image.pk}"]')
    assert "934 \N{MULTIPLICATION SIGN} 723" in row.inner_text()
    assert "sam2.1_hiera_tiny (untrained)" in row.inner_text()
    assert owner.foreign_requests(own_hosts) == []
    assert owner.console_errors == []
    print(f"upload → encoded in {encoded_after_s:.1f} s; progress texts seen: {seen}")


def test_an_annotator_sees_the_project_read_only(cast, ingested_image, browser_as, screenshot):
    ingested_image("landsat_rgb_utm18.tif")
    page = browser_as("annotator").page
    page.goto(page.url + f"projects/{cast.project.pk}/")
    page.locator("#image-rows a", has_text="landsat_rgb_utm18.tif").wait_for()
    page.locator("#member-rows").get_by_text("reviewer").first.wait_for()
    assert page.locator("#upload-form").count() == 0
    assert page.locator("#member-form").count() == 0
    assert page.locator("#model-form").count() == 0
    assert page.locator("#project-model").inner_text() == "sam2.1_hiera_tiny"
    assert page.get_by_role("link", name="Review").count() == 0
    screenshot(page, "read-only")
