"""A reviewer drafts a freshly encoded image from the annotate page's Drafts panel in Chromium:
starts a segment-everything run on the real ``encode`` worker, watches its job finish, sees
its drafts as their own layer in risk order, and bulk-approves the confident ones after the
count preview (untrained tiny model: thresholds lowered so that its masks pass; the machinery
is real)."""

from __future__ import annotations

import pytest

from tests.support.sam2 import encode_cached

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.sam2, pytest.mark.timeout(900)]


def test_a_reviewer_starts_a_run_from_the_panel_and_bulk_approves_its_confident_drafts(
    celery_worker, cast, ingested_image, browser_as, app, screenshot, wait_for
):
    from playwright.sync_api import expect

    from annotator.models import Annotation, AnnotationState, AnnotationVersion, DraftRun

    image = encode_cached(ingested_image("naip_rgbn_utm14_2020.tif"))
    page = browser_as("reviewer").page
    page.goto(f"{app}/images/{image.pk}/map/")
    page.locator("body[data-ready=true]").wait_for()

    form = page.get_by_role("form", name="Start a drafting run")
    form.locator("summary", has_text="Parameters").click()
    page.locator("#draft-points_per_side").fill("4")
    page.locator("#draft-pred_iou_thresh").fill("0")
    page.locator("#draft-stability_score_thresh").fill("0")
    form.scroll_into_view_if_needed()
    screenshot(page, "1-run-form")
    page.locator("#draft-start-run").click()

    page.locator("#draft-job[data-status=succeeded]").wait_for()
    run = DraftRun.objects.get()
    assert run.created_by == cast.reviewer and run.params["points_per_side"] == 4
    made = Annotation.objects.filter(image=image, source="auto", provenance__run=run.pk)
    count = made.count()
    assert count > 0
    assert run.counts["encoder_calls"] == 0
    drafts = page.locator("#draft-list li")
    expect(drafts).to_have_count(count)
    assert page.locator("path.run-draft").count() == count  # the run's own layer on the map
    page.locator("#drafts-panel").scroll_into_view_if_needed()
    screenshot(page, "2-run-done-drafts-listed")

    # Risk order: the list is riskiest first, as the review queue orders it.
    risks = [a.risk for a in made.order_by("-risk", "id")]
    listed = [int(i) for i in drafts.evaluate_all("(lis) => lis.map((li) => li.dataset.annotationId)")]
    assert [Annotation.objects.get(pk=pk).risk for pk in listed] == risks

    # Approve the least risky draft(s), after the count preview: a threshold between the two
    # lowest distinct risks (above the only one when all are equal).
    distinct = sorted(set(risks))
    threshold = (distinct[0] + distinct[1]) / 2 if len(distinct) > 1 else distinct[0] + 0.001
    below = sum(1 for r in risks if r < threshold)
    page.locator("#bulk-approve-below").fill(f"{threshold:.9f}")
    page.locator("#bulk-preview-button").click()
    expect(page.locator("#bulk-preview")).to_contain_text(
        f"{below} draft{'s' if below != 1 else ''} would be approved, no drafts rejected"
    )
    screenshot(page, "3-bulk-preview")
    page.locator("#bulk-apply").click()
    page.locator("dialog[open] button[value=yes]").click()
    expect(drafts).to_have_count(count - below)
    approved = made.filter(state=AnnotationState.APPROVED)
    assert approved.count() == below
    assert AnnotationVersion.objects.filter(annotation__in=approved, action="approved").count() == below
    screenshot(page, "4-after-bulk-approval")
