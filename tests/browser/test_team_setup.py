"""Setting up a team in Chromium, with nothing but the app: a staff user creates a project
and an invitation link; a newcomer (a fresh browser, not logged in) opens the link, chooses
a username and password and lands in the project with the invited role; the owner renames
the project, deletes an image after a confirmation that counts its annotations, and deletes
the project. Staff also create an account whose owner chooses a password by a one-time link.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon

from tests.support.workflow import CENTRE, make_image

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture
def staffer(make_user):
    """The team's admin: staff, a member of no project yet (logs in with ``staffer-pw-123``)."""
    user = make_user("staffer")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def fresh_page(chromium):
    """A page in a new browser context: no cookies, nobody logged in."""
    contexts = []

    def make():
        context = chromium.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        return page

    yield make
    for context in contexts:
        context.close()


def annotate(image, author, n: int) -> None:
    """``n`` small squares (EPSG:4326) on the image."""
    from annotator.models import Annotation

    for i in range(n):
        x, y = CENTRE[0] + i * 0.001, CENTRE[1]
        square = MultiPolygon(Polygon.from_bbox((x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4)), srid=4326)
        Annotation.objects.create(project=image.project, image=image, author=author, geometry=square)


def test_a_staff_user_sets_up_a_project_and_a_newcomer_joins_by_invitation(
    cast, staffer, browser_as, fresh_page, own_hosts, screenshot
):
    from annotator.models import Annotation, Image, Membership, Project

    admin = browser_as("staffer")
    page = admin.page
    screenshot(page, "01-project-list")

    # A new project, from the project list.
    page.get_by_role("button", name="New project").click()
    dialog = page.get_by_role("dialog", name="New project")
    dialog.get_by_label("Name").fill("Wetlands 2026")
    dialog.get_by_label("Description").fill("Ponds and marsh edges, spring flight")
    screenshot(page, "02-new-project-dialog")
    dialog.get_by_role("button", name="Create project").click()
    page.get_by_role("heading", name="Wetlands 2026").wait_for()
    project = Project.objects.get(name="Wetlands 2026")
    assert Membership.objects.get(project=project, user=staffer).role == "owner"
    assert page.url.endswith(f"/projects/{project.pk}/")

    # An image with three annotations (by the staff user), so that there is something to delete.
    image = make_image(project, name="marsh_edge.tif")
    make_image(project, name="kept.tif")
    annotate(image, staffer, 3)
    page.reload()
    page.locator("#image-rows a", has_text="marsh_edge.tif").wait_for()
    screenshot(page, "03-new-project-page")

    # An invitation link for a reviewer.
    invite = page.locator("#invite-form")
    invite.get_by_label("Role").select_option("reviewer")
    invite.get_by_role("button", name="Create invitation link").click()
    link_field = page.get_by_role("textbox", name="Invitation link")
    link_field.wait_for()
    link = link_field.input_value()
    assert re.fullmatch(rf"{re.escape(page.url.split('/projects/')[0])}/invitations/[\w-]{{40,}}/", link), link
    page.locator("#invitation-rows").get_by_text("Invitation as reviewer").wait_for()
    link_field.scroll_into_view_if_needed()
    screenshot(page, "04-invitation-link")

    # The newcomer: a fresh browser, not logged in.
    newcomer = fresh_page()
    newcomer.goto(link)
    newcomer.get_by_role("heading", name="Join Wetlands 2026").wait_for()
    assert "staffer invites you" in newcomer.locator("main").inner_text()
    assert newcomer.get_by_test_id("invited-role").inner_text() == "reviewer"
    newcomer.get_by_label("Username").fill("heron")
    newcomer.get_by_label("Password", exact=True).fill("tall-grass-77")
    newcomer.get_by_label("Password again").fill("tall-grass-77")
    screenshot(newcomer, "05-invitation-page")
    newcomer.get_by_role("button", name="Create account and join").click()
    newcomer.get_by_role("heading", name="Wetlands 2026").wait_for()
    assert newcomer.url.endswith(f"/projects/{project.pk}/")
    newcomer.get_by_text("Welcome, heron: you joined Wetlands 2026 as reviewer.").wait_for()
    assert newcomer.locator(".who").inner_text() == "heron · reviewer"
    assert newcomer.get_by_role("link", name="Review").count() == 1
    assert newcomer.locator("#project-form").count() == 0
    newcomer.locator("#image-rows a", has_text="marsh_edge.tif").wait_for()
    screenshot(newcomer, "06-newcomer-in-the-project")
    assert Membership.objects.get(project=project, user__username="heron").role == "reviewer"

    # The link worked once.
    again = fresh_page()
    again.goto(link)
    again.get_by_text("This invitation link has already been used").wait_for()
    screenshot(again, "07-used-link")

    # The owner renames the project.
    page.reload()
    page.locator("#member-rows").get_by_text("heron").wait_for()
    assert page.locator("#invitation-rows tr").count() == 0  # the used invitation is no longer pending
    settings_form = page.locator("#project-form")
    settings_form.get_by_label("Name").fill("Wetlands 2026 (spring)")
    settings_form.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Wetlands 2026 (spring)", exact=True).wait_for()
    page.get_by_text("Saved: the project is now called Wetlands 2026 (spring).").wait_for()
    assert page.locator(".crumb-project").inner_text() == "/ Wetlands 2026 (spring)"
    project.refresh_from_db()
    assert project.name == "Wetlands 2026 (spring)"
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "08-renamed")

    # The owner deletes an image: the confirmation counts its annotations.
    page.get_by_role("button", name="Delete marsh_edge.tif").click()
    confirm = page.get_by_role("dialog", name="Delete this image?")
    confirm.get_by_text("3 annotations on it, by every member of the project").wait_for()
    screenshot(page, "09-delete-image-confirmation")
    confirm.get_by_role("button", name="Delete image").click()
    page.get_by_text("Deleted marsh_edge.tif and 3 annotations.").wait_for()
    page.locator("#image-rows a", has_text="marsh_edge.tif").wait_for(state="detached")
    screenshot(page, "10-image-deleted")
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not Annotation.objects.filter(image_id=image.pk).exists()
    assert Image.objects.filter(project=project, name="kept.tif").exists()

    # Cancelling a project deletion keeps everything; confirming deletes it for everyone.
    page.get_by_role("button", name="Delete project…").click()
    confirm = page.get_by_role("dialog", name="Delete this project?")
    confirm.get_by_text("1 image with its COG and SAM2 features").wait_for()
    confirm.get_by_text("no annotations").wait_for()
    screenshot(page, "11-delete-project-confirmation")
    confirm.get_by_role("button", name="Cancel").click()
    assert Project.objects.filter(pk=project.pk).exists()
    page.get_by_role("button", name="Delete project…").click()
    page.get_by_role("dialog", name="Delete this project?").get_by_role("button", name="Delete project").click()
    page.wait_for_url(re.compile(r".*/$"))
    page.get_by_text("Deleted the project Wetlands 2026 (spring).").wait_for()
    screenshot(page, "12-project-deleted")
    assert not Project.objects.filter(pk=project.pk).exists()
    assert admin.foreign_requests(own_hosts) == []
    assert admin.console_errors == []


def test_staff_create_an_account_whose_owner_chooses_a_password_by_link(
    cast, staffer, browser_as, fresh_page, screenshot
):
    from django.contrib.auth import get_user_model

    admin = browser_as("staffer")
    page = admin.page
    page.get_by_role("link", name="Users").click()
    page.get_by_role("heading", name="Users", exact=True).wait_for()
    page.locator('#user-rows tr[data-username="viewer"]').wait_for()

    form = page.locator("#user-form")
    form.get_by_label("Username").fill("surveyor")
    form.get_by_label("Email").fill("surveyor@example.org")
    form.get_by_role("button", name="Create user").click()
    link_field = page.get_by_role("textbox", name="Password link for surveyor")
    link_field.wait_for()
    link = link_field.input_value()
    row = page.locator('#user-rows tr[data-username="surveyor"]')
    row.get_by_text("no password yet").wait_for()
    screenshot(page, "01-user-created-with-link")

    person = fresh_page()
    person.goto(link)
    person.get_by_role("heading", name="Choose a password").wait_for()
    person.get_by_label("New password", exact=True).fill("tall-grass-77")
    person.get_by_label("New password again").fill("tall-grass-77")
    screenshot(person, "02-choose-a-password")
    person.get_by_role("button", name="Set password and log in").click()
    person.get_by_role("heading", name="Projects").wait_for()
    person.get_by_text("Your password is set, surveyor; you are logged in.").wait_for()
    person.get_by_text("Ask a project's owner for an invitation link.").wait_for()
    screenshot(person, "03-logged-in-without-projects")
    assert get_user_model().objects.get(username="surveyor").check_password("tall-grass-77")

    # Deactivating an account is one click; the row says so.
    page.reload()
    page.get_by_role("button", name="Deactivate annotator").click()
    page.locator('#user-rows tr[data-username="annotator"]').get_by_text("deactivated").wait_for()
    screenshot(page, "04-annotator-deactivated")
    assert not get_user_model().objects.get(username="annotator").is_active
    assert admin.console_errors == []
