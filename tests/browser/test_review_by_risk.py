"""A reviewer turns a drafting run into a ranked queue in Chromium: the review page lists it by
risk with the reasons in words; the annotate page's Drafts panel steps through the run in risk
order with the review keys, previews a bulk approval's count and applies it.

The drafts are written as rows, as a run writes them (tests/support/workflow.drafted): the run
engine has its own tests."""

from __future__ import annotations

import pytest

from tests.support.workflow import drafted

pytestmark = [pytest.mark.browser]


def test_a_reviewer_steps_through_a_run_by_risk_and_bulk_approves_the_confident_drafts(
    cast, ingested_image, browser_as, app, screenshot
):
    from playwright.sync_api import expect

    from annotator.models import AnnotationVersion, LabelClass

    field = LabelClass.objects.create(project=cast.project, name="field", colour="#eab308")
    image = ingested_image("landsat_rgb_utm18.tif")
    risky, confident, safest, middling = drafted(cast, image, run=7, risks=[0.9, 0.2, 0.1, 0.5], label_class=field)
    drafted(cast, image, run=8, risks=[0.95])  # another run stays out of it
    page = browser_as("reviewer").page

    page.goto(f"{app}/projects/{cast.project.pk}/review/?run=7&order=risk")
    items = page.locator("#queue-list li")
    expect(items).to_have_count(4)
    assert [int(i) for i in items.evaluate_all("(lis) => lis.map((li) => li.dataset.annotationId)")] == [
        risky.pk, middling.pk, confident.pk, safest.pk,
    ]  # fmt: skip
    expect(items.first.locator(".risk-line")).to_have_text("risk 0.90: predicted IoU 0.55 (low)")
    expect(page.locator("#review-item")).to_contain_text("risk 0.90")  # the next one is the riskiest
    screenshot(page, "review-queue-by-risk")

    page.goto(f"{app}/images/{image.pk}/map/?run=7")
    page.locator("body[data-ready=true]").wait_for()
    drafts = page.locator("#draft-list li")
    expect(drafts).to_have_count(4)
    expect(page.locator("#draft-count")).to_contain_text("4 drafts to review on this image")
    assert page.locator("path.run-draft").count() == 4  # the run's own layer
    page.locator("#drafts-panel").scroll_into_view_if_needed()
    screenshot(page, "drafts-layer-and-panel")

    page.locator("#map").focus()
    page.keyboard.press("n")
    page.wait_for_function(f"window.geoprompt.state().current && window.geoprompt.state().current.id === {risky.pk}")
    expect(page.locator("#draft-list li.active")).to_have_attribute("data-annotation-id", str(risky.pk))
    page.locator("#draft-list").scroll_into_view_if_needed()
    screenshot(page, "drafts-panel-riskiest-selected")
    page.keyboard.press("a")  # approve it; the next one by risk is selected
    page.wait_for_function(f"window.geoprompt.state().current && window.geoprompt.state().current.id === {middling.pk}")
    expect(drafts).to_have_count(3)
    (event,) = AnnotationVersion.objects.filter(annotation=risky, action="approved")
    assert event.user == cast.reviewer

    page.locator("#bulk-approve-below").fill("0.3")
    page.locator("#bulk-preview-button").click()
    expect(page.locator("#bulk-preview")).to_have_text(
        "2 drafts would be approved, no drafts rejected; 1 kept for review, 0 without a risk."
    )
    expect(page.locator("#bulk-apply")).to_have_text("Approve 2")
    screenshot(page, "drafts-bulk-preview")
    page.locator("#bulk-apply").click()
    page.locator("dialog[open] button[value=yes]").click()
    expect(drafts).to_have_count(1)
    expect(drafts.first).to_have_attribute("data-annotation-id", str(middling.pk))
    for annotation in (confident, safest):
        (event,) = AnnotationVersion.objects.filter(annotation=annotation, action="approved")
        assert event.user == cast.reviewer
    assert not AnnotationVersion.objects.filter(annotation=middling, action="approved").exists()
    screenshot(page, "drafts-after-bulk-approval")
