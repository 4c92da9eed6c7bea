"""Annotator agreement on the dashboard, in Chromium: an owner reads how far three annotators
agree on the same ground (per pair, with distances in metres, checked by hand) and may make
consensus drafts of an area; a viewer reads the same figures without the button. The
consensus job itself runs on a worker in tests/browser/test_demo_dashboard.py.
"""

from __future__ import annotations

import pytest

from tests.support.agreement import three_annotators

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def test_an_owner_reads_agreement_and_may_make_consensus_drafts_of_an_area(
    cast, make_user, image, browser_as, app, screenshot
):
    setup = three_annotators(cast, make_user, image)
    owner = browser_as("owner")
    page = owner.page
    page.goto(f"{app}/projects/{cast.project.pk}/dashboard/")
    page.locator("[data-testid=agreement][data-loaded=true]").wait_for()
    page.locator("#agreement").scroll_into_view_if_needed()
    pair = page.locator('[data-testid=agreement-pairs] tr[data-pair="annotator|reviewer"]')
    # annotator's square and reviewer's are 2 m apart: IoU 18/22, outlines 1 m apart (median).
    assert pair.locator("td").nth(4).inner_text() == "0.82"
    assert pair.locator("td").nth(5).inner_text() == "1.00 m"
    assert "1 object drawn by two or more annotators" in page.get_by_test_id("agreement-overall").inner_text()
    # The annotator drew two boxes; someone else matched one of them.
    mine = page.locator('[data-testid=agreement-annotators] tr[data-username="annotator"] td')
    assert [mine.nth(i).inner_text() for i in (1, 2)] == ["2", "1"]
    screenshot(page, "1-agreement")

    assert page.locator("#make-consensus").is_disabled()  # until an area is chosen
    page.locator("#agreement-area").select_option(str(setup.area.pk))
    page.locator("#make-consensus:not([disabled])").wait_for()

    viewer = browser_as("viewer")
    viewer.page.goto(f"{app}/projects/{cast.project.pk}/dashboard/")
    viewer.page.locator("[data-testid=agreement][data-loaded=true]").wait_for()
    assert viewer.page.locator("#make-consensus").is_hidden()
    assert owner.console_errors == [] and viewer.console_errors == []
