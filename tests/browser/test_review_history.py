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
