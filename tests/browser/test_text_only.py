"""Every string a person typed reaches the page as text, never as HTML, in Chromium.

Comment bodies, label-class names, assigned-area names, project names, image file names and
usernames all carry script payloads here. On every page (project list, project page,
annotate, review, dashboard, exports) the owner sees the literal text, no payload element is
created (an injected ``<img src=x>`` would request ``…/x``) and ``window.__xss`` stays unset.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.support.workflow import CENTRE, make_image, square

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"

PROJECT = f"Fields {SCRIPT}"
DESCRIPTION = f"About {IMG}"
USERNAME = f"ann{IMG}"
LABEL = f"roof{IMG}"
AREA = f"north {SCRIPT}"
IMAGE = f"scene{IMG}.tif"
COMMENT = f"see {IMG} and {SCRIPT}"

# A second annotation east of the first one (EPSG:4326 degrees): hovered for its tooltip.
EAST = (CENTRE[0] + 0.0015, CENTRE[1])


def assert_no_script_ran(session) -> None:
    page = session.page
    injected = [url for url in session.requests if urlsplit(url).path.endswith("/x")]
    assert not injected, f"an injected <img src=x> was created: {injected}"
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert not session.console_errors, session.console_errors


@pytest.fixture
def payloads(cast, make_user):
    """The cast's project renamed, and one member whose every string carries a payload."""
    from annotator.choices import Role
    from annotator.models import Export, LabelClass, Membership
    from annotator.workflow import annotations, comments, review

    cast.project.name = PROJECT
    cast.project.description = DESCRIPTION
    cast.project.save()
    author = make_user(USERNAME)
    Membership.objects.create(project=cast.project, user=author, role=Role.ANNOTATOR)
    label = LabelClass.objects.create(project=cast.project, name=LABEL, colour="#eab308")
    image = make_image(cast.project, name=IMAGE)
    submitted = annotations.create_annotation(image, author, square(*CENTRE), label_class_id=label.pk)
    submitted = review.transition(submitted.pk, "submit", author)
    draft = annotations.create_annotation(image, author, square(*EAST), label_class_id=label.pk)
    comments.open_thread(cast.project, author, COMMENT, annotation_id=submitted.pk)
    comments.save_area(
        cast.project, image_id=image.pk, geometry=square(*CENTRE, half=0.003), assignee=USERNAME, name=AREA
    )
    Export.objects.create(project=cast.project, created_by=author, formats=["geojson"])

    class Payloads:
        pass

    p = Payloads()
    p.image, p.submitted, p.draft = image, submitted, draft
    return p


def test_user_strings_carrying_scripts_show_as_text_on_every_page(payloads, browser_as, app, screenshot):
    owner = browser_as("owner")
    page = owner.page

    # Project list.
    expect(page.get_by_role("link", name=PROJECT)).to_be_visible()
    assert_no_script_ran(owner)

    # Project page: name, description, images, members, label classes.
    page.get_by_role("link", name=PROJECT).click()
    expect(page.get_by_role("heading", name=PROJECT)).to_be_visible()
    assert PROJECT in page.title()
    expect(page.locator("#project-description")).to_have_text(DESCRIPTION)
    expect(page.locator("#project-form").get_by_label("Description")).to_have_value(DESCRIPTION)
    expect(page.locator("#image-rows").get_by_role("link", name=IMAGE)).to_be_visible()
    expect(page.locator("#member-rows")).to_contain_text(USERNAME)
    expect(page.locator("#class-list").get_by_label(f"Name of {LABEL}")).to_have_value(LABEL)
    screenshot(page, "project")
    assert_no_script_ran(owner)

    # Annotate page, focused on the submitted annotation.
    page.goto(f"{app}/images/{payloads.image.pk}/map/?annotation={payloads.submitted.pk}")
    page.locator(".current-annotation").wait_for()
    assert IMAGE in page.title()
    expect(page.locator("header")).to_contain_text(PROJECT)
    expect(page.locator("header")).to_contain_text(IMAGE)
    expect(page.locator("#image-status")).to_contain_text(IMAGE)
    expect(page.locator("#classes")).to_contain_text(LABEL)
    expect(page.locator("#label-status")).to_contain_text(LABEL)
    expect(page.locator("#selection")).to_contain_text(f"by {USERNAME}")
    # Zoom out to see both annotations and the area, once the page has finished zooming in.
    page.locator("body[data-ready=true]").wait_for()
    page.evaluate(f"window.geoprompt.map.setView([{CENTRE[1]}, {CENTRE[0] + 0.0008}], 16, {{animate: false}})")
    page.wait_for_function("window.geoprompt.map.getZoom() === 16")
    area_label = page.locator(".area-label")
    expect(area_label).to_have_count(1)  # one label per area, however often the areas were reloaded
    expect(area_label).to_be_visible()
    expect(area_label).to_have_text(f"{AREA} · {USERNAME}")
    # Hover the other annotation: its tooltip names its label class.
    page.locator(".leaflet-overlay-pane path.leaflet-interactive").first.wait_for()
    point = page.evaluate(f"window.geoprompt.map.latLngToContainerPoint([{EAST[1]}, {EAST[0]}])")
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    tooltip = page.locator(".leaflet-tooltip", has_text=f"#{payloads.draft.pk}")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_have_text(f"#{payloads.draft.pk} {LABEL} · draft")
    screenshot(page, "annotate")
    assert_no_script_ran(owner)

    # Review page: the submitted annotation, its author, its label and the comment pinned on the map.
    page.goto(f"{app}/projects/{payloads.image.project_id}/review/")
    page.locator(f'#map[data-annotation-id="{payloads.submitted.pk}"]').wait_for()
    expect(page.locator("#review-item")).to_contain_text(LABEL)
    expect(page.locator("#review-item")).to_contain_text(USERNAME)
    expect(page.locator("#comments")).to_have_text(f"{USERNAME}: {COMMENT}")
    pin = page.locator(".comment-pin")
    expect(pin).to_be_visible()
    expect(pin).to_have_text(f"{USERNAME}: {COMMENT}")
    expect(page.locator("#image-status")).to_contain_text(IMAGE)
    assert PROJECT in page.title()
    screenshot(page, "review")
    assert_no_script_ran(owner)

    # Dashboard: the annotator table (the charts draw names on a canvas).
    page.goto(f"{app}/projects/{payloads.image.project_id}/dashboard/")
    page.locator('#dashboard[data-loaded="true"]').wait_for()
    expect(page.locator("#annotator-table")).to_contain_text(USERNAME)
    expect(page.locator("header")).to_contain_text(PROJECT)
    screenshot(page, "dashboard")
    assert_no_script_ran(owner)

    # Exports page: label-class and image choices, who started an export.
    page.goto(f"{app}/projects/{payloads.image.project_id}/exports/")
    expect(page.locator("#class-choices")).to_contain_text(LABEL)
    expect(page.locator("#image-choices")).to_contain_text(IMAGE)
    expect(page.locator("#export-rows")).to_contain_text(USERNAME)
    expect(page.locator("header")).to_contain_text(PROJECT)
    screenshot(page, "exports")
    assert_no_script_ran(owner)
