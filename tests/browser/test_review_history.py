"""The review history in Chromium: the dashboard keeps rejections after the fix, and a
reviewer filters the queue and approves several annotations at once."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser]


def square_at(image, dx: float, dy: float = 0.0, half: float = 0.0001) -> dict:
    """A GeoJSON Polygon (EPSG:4326) of side ``2 * half`` degrees, offset from the image's centre."""
    centre = image.footprint.centroid
    x, y = centre.x + dx, centre.y + dy
    ring = [
        [x - half, y - half],
        [x + half, y - half],
        [x + half, y + half],
        [x - half, y + half],
        [x - half, y - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def labelled(image, author, label_class, dx: float):
    from annotator.workflow import annotations

    return annotations.create_annotation(image, author, square_at(image, dx), label_class_id=label_class.pk)


def test_the_dashboard_keeps_a_rejection_after_the_fix_is_approved(cast, ingested_image, browser_as, app, screenshot):
    from annotator.models import LabelClass
    from annotator.workflow import annotations, review

    field = LabelClass.objects.create(project=cast.project, name="field", colour="#eab308")
    image = ingested_image("landsat_rgb_utm18.tif")
    fixed = labelled(image, cast.annotator, field, 0.0)
    review.transition(fixed.pk, "submit", cast.annotator)
    review.transition(fixed.pk, "reject", cast.reviewer, comment="The field goes on to the road.")
    fixed = annotations.update_annotation(
        fixed.pk, cast.annotator, expected_version=3, geometry=square_at(image, 0.0, half=0.00008)
    )
    review.transition(fixed.pk, "submit", cast.annotator)
    review.transition(fixed.pk, "approve", cast.reviewer)
    clean = labelled(image, cast.annotator, field, 0.001)
    review.transition(clean.pk, "submit", cast.annotator)
    review.transition(clean.pk, "approve", cast.owner)

    page = browser_as("viewer").page
    page.goto(f"{app}/projects/{cast.project.pk}/dashboard/")
    page.locator("#dashboard[data-loaded=true]").wait_for()
    assert page.get_by_test_id("count-rejected").locator(".n").inner_text() == "0"  # nothing rejected now
    assert page.get_by_test_id("rejections-ever").locator(".n").inner_text() == "1"
    assert page.get_by_test_id("first-pass-rate").locator(".n").inner_text() == "50 %"
    assert page.get_by_test_id("rework").locator(".n").inner_text() == "1"
    record = page.locator('[data-testid=review-record][data-username="annotator"]')
    assert record.locator("[data-figure=rejections]").inner_text() == "1 rejection"
    assert record.locator("[data-figure=first-pass]").inner_text() == "first-pass approval rate 50 %"
    assert record.locator("[data-figure=rework]").inner_text() == "1 resubmission after a rejection"
    row = page.locator('#class-table tr[data-label-class="field"]').inner_text().split("\t")
    assert row[:6] == ["field", "2", "2", "1", "50 %", "1"]
    screenshot(page, "dashboard")
    page.locator("#annotator-table").scroll_into_view_if_needed()
    screenshot(page, "dashboard-tables")


def test_a_reviewer_filters_the_queue_approves_two_at_once_and_sees_them_on_the_dashboard(
    cast, ingested_image, browser_as, app, screenshot
):
    from playwright.sync_api import expect

    from annotator.models import Annotation, AnnotationVersion, LabelClass
    from annotator.workflow import annotations, review

    field = LabelClass.objects.create(project=cast.project, name="field", colour="#eab308")
    road = LabelClass.objects.create(project=cast.project, name="road", colour="#6b7280")
    image = ingested_image("landsat_rgb_utm18.tif")
    fields = [labelled(image, cast.annotator, field, dx) for dx in (-0.001, 0.001)]
    fixed_road = labelled(image, cast.annotator, road, 0.0)
    owners_field = labelled(image, cast.owner, field, 0.002)
    for annotation in [*fields, fixed_road, owners_field]:
        review.transition(annotation.pk, "submit", annotation.author)
    # the road was rejected once, fixed and submitted again: it waits in the queue
    review.transition(fixed_road.pk, "reject", cast.reviewer, comment="Follow the verge.")
    annotations.update_annotation(
        fixed_road.pk, cast.annotator, expected_version=3, geometry=square_at(image, 0.0, half=0.00008)
    )
    review.transition(fixed_road.pk, "submit", cast.annotator)

    page = browser_as("reviewer").page
    page.goto(f"{app}/projects/{cast.project.pk}/review/")
    items = page.locator("#queue-list li")
    expect(items).to_have_count(4)
    page.locator('#filter-author option[value="annotator"]').wait_for(state="attached")
    page.locator("#filter-author").select_option("annotator")
    expect(items).to_have_count(3)
    page.locator("#filter-class").select_option(str(field.pk))
    expect(items).to_have_count(2)
    expect(page.locator("#queue-count")).to_have_text("2 annotations match the filters.")
    approve_selected = page.get_by_role("button", name="Approve selected")
    expect(approve_selected).to_be_disabled()

    # a click on a listed one shows it on the map (the oldest is shown first)
    expect(page.locator("#map")).to_have_attribute("data-annotation-id", str(fields[0].pk))
    page.locator(f'#queue-list li[data-annotation-id="{fields[1].pk}"] button').click()
    expect(page.locator("#map")).to_have_attribute("data-annotation-id", str(fields[1].pk))
    expect(page.locator("#queue-list li.active")).to_have_attribute("data-annotation-id", str(fields[1].pk))

    for annotation in fields:
        page.get_by_label(f"Select annotation #{annotation.pk}").check()
    expect(page.get_by_role("button", name="Approve 2 selected")).to_be_enabled()
    screenshot(page, "1-filtered-and-selected")
    page.get_by_role("button", name="Approve 2 selected").click()
    dialog = page.get_by_role("dialog", name="Approve 2 annotations?")
    expect(dialog).to_contain_text("Each of these 2 is approved")
    screenshot(page, "2-confirmation")
    dialog.get_by_role("button", name="Approve 2").click()

    expect(page.locator("#queue-count")).to_have_text("No submitted annotation matches the filters.")
    expect(page.get_by_role("button", name="Approve (A)")).to_be_disabled()
    expect(page.get_by_role("button", name="Reject (R)")).to_be_disabled()
    screenshot(page, "3-approved")
    approvals = []
    page.on("request", lambda r: approvals.append(r.url) if r.method == "POST" and "approve" in r.url else None)
    page.locator("#map").focus()
    page.keyboard.press("a")  # a disabled button's key does nothing either
    page.locator("#filter-author").select_option("")
    page.locator("#filter-class").select_option("")
    expect(items).to_have_count(2)
    expect(page.get_by_role("button", name="Approve (A)")).to_be_enabled()
    assert approvals == []
    for annotation in fields:
        assert Annotation.objects.get(pk=annotation.pk).state == "approved"
        (event,) = AnnotationVersion.objects.filter(annotation=annotation, action="approved")
        assert event.user == cast.reviewer
    assert Annotation.objects.get(pk=fixed_road.pk).state == "submitted"
    assert Annotation.objects.get(pk=owners_field.pk).state == "submitted"

    page.goto(f"{app}/projects/{cast.project.pk}/dashboard/")
    page.locator("#dashboard[data-loaded=true]").wait_for()
    record = page.locator('[data-testid=review-record][data-username="annotator"]')
    assert record.locator("[data-figure=rejections]").inner_text() == "1 rejection"
    # the two fields approved at their first review, the road rejected at its first
    assert record.locator("[data-figure=first-pass]").inner_text() == "first-pass approval rate 67 %"
    assert record.locator("[data-figure=rework]").inner_text() == "1 resubmission after a rejection"
    assert page.get_by_test_id("count-approved").locator(".n").inner_text() == "2"
    screenshot(page, "4-dashboard")
