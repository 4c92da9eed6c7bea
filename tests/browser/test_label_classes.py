"""Label classes in Chromium: the owner renames and reorders classes, defines an attribute,
is refused the deletion of a class in use (the page says how many annotations use it),
archives it and turns on the label rule; the annotator is not offered the archived class,
the keys 1-9 follow the owner's order, and Submit says what is missing (a label class, a
required attribute)."""

from __future__ import annotations

import pytest

from tests.support.exports import NAIP, approved, blob

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


@pytest.fixture
def classes(cast):
    """road, field (with a required crop) and pond, in that order."""
    from annotator.models import LabelClass

    crop = {"name": "crop", "type": "choice", "required": True, "choices": ["wheat", "canola"]}
    return {
        name: LabelClass.objects.create(project=cast.project, name=name, order=i, attributes=attributes)
        for i, (name, attributes) in enumerate([("road", []), ("field", [crop]), ("pond", [])])
    }


def test_the_owner_arranges_the_classes_and_the_annotator_gets_them_in_that_order(
    cast, classes, ingested_image, browser_as, app, screenshot, wait_for
):
    from annotator.models import Annotation, LabelClass

    image = ingested_image(NAIP)
    ponds = [approved(image, cast, blob(200 + 300 * i, 500, 50, seed=i), classes["pond"], "draft") for i in range(2)]
    bare = approved(image, cast, blob(450, 200, 70, seed=7), None, "draft")

    # The owner: rename, move up, a refused deletion, archive, the label rule.
    owner = browser_as("owner")
    page = owner.page
    page.goto(f"{app}/projects/{cast.project.pk}/")
    rows = page.locator("#class-list")
    rows.get_by_label("Name of road").fill("track")
    rows.get_by_label("Name of road").press("Enter")
    page.locator("#class-status", has_text="Renamed road to track.").wait_for()
    rows.get_by_role("button", name="Move field down").click()
    page.locator("#class-status", has_text="field moved down.").wait_for()
    assert list(LabelClass.objects.filter(project=cast.project).values_list("name", flat=True)) == [
        "track",
        "pond",
        "field",
    ]
    assert rows.get_by_test_id(f"uses-{classes['pond'].pk}").inner_text() == "2 annotations"

    track = rows.locator(f'li[data-class-id="{classes["road"].pk}"]')
    track.get_by_text("Attributes: none").click()
    new_attribute = track.get_by_role("form", name="New attribute of track")
    new_attribute.get_by_label("Name").fill("surface")
    new_attribute.get_by_label("Type").select_option("choice")
    new_attribute.get_by_label("Choices, comma separated").fill("gravel, paved")
    new_attribute.get_by_label("required on submit").check()
    new_attribute.get_by_role("button", name="Add attribute").click()
    page.locator("#class-status", has_text="Added the attribute surface to track.").wait_for()
    track.get_by_text("surface · choice of gravel, paved · required on submit").wait_for()
    screenshot(page, "attribute-defined")
    assert LabelClass.objects.get(pk=classes["road"].pk).attributes == [
        {"name": "surface", "type": "choice", "required": True, "choices": ["gravel", "paved"]}
    ]

    rows.get_by_role("button", name="Delete pond").click()
    refusal = page.locator("#class-status", has_text="2 annotations use the class 'pond', so it cannot be deleted")
    refusal.wait_for()
    screenshot(page, "delete-refused")
    assert LabelClass.objects.filter(pk=classes["pond"].pk).exists()
    refusal.get_by_role("button", name="Archive pond").click()
    page.locator("#class-status", has_text="pond is archived").wait_for()
    page.locator(f'#class-list li.archived[data-class-id="{classes["pond"].pk}"]').wait_for()
    page.get_by_label("Annotations need a label class before they are submitted").check()
    page.get_by_text("Annotations now need a label class before they are submitted.").wait_for()
    screenshot(page, "arranged")
    assert LabelClass.objects.get(pk=classes["pond"].pk).archived
    cast.project.refresh_from_db()
    assert cast.project.require_label
    assert owner.console_errors == []

    # The annotator: the archived class is not offered; key 2 is the second class left in
    # the owner's order (field), not the second by name (track).
    annotator = browser_as("annotator")
    page = annotator.page
    page.goto(f"{app}/images/{image.pk}/map/?annotation={bare.pk}")
    page.locator("body[data-ready=true]").wait_for()
    assert [" ".join(t.split()) for t in page.locator("#classes li").all_inner_texts()] == ["1 track", "2 field"]
    page.keyboard.press("s")
    page.locator("#save-status", has_text="needs a label class on every annotation").wait_for()
    screenshot(page, "label-required")
    assert Annotation.objects.get(pk=bare.pk).state == "draft"

    page.keyboard.press("2")
    page.locator("#label-status", has_text="field").wait_for()
    crop = page.locator("#attribute-fields").get_by_label("crop")
    crop.wait_for()
    page.locator("#selection").click()  # the keys are the map's, not a field's
    page.keyboard.press("s")
    page.locator("#save-status", has_text="fill in crop first").wait_for()
    screenshot(page, "attribute-required")
    crop.select_option("wheat")
    assert wait_for(lambda: Annotation.objects.get(pk=bare.pk).attributes == {"crop": "wheat"})
    page.locator("#selection").click()
    page.keyboard.press("s")
    page.get_by_text(f"Annotation #{bare.pk} submitted for review.").wait_for()
    screenshot(page, "submitted")
    submitted = Annotation.objects.get(pk=bare.pk)
    assert (submitted.state, submitted.label_class_id, submitted.attributes) == (
        "submitted",
        classes["field"].pk,
        {"crop": "wheat"},
    )

    # An annotation of the archived class keeps it, and says so.
    page.goto(f"{app}/images/{image.pk}/map/?annotation={ponds[0].pk}")
    page.locator("body[data-ready=true]").wait_for()
    page.locator("#label-status", has_text="pond (archived)").wait_for()
    assert annotator.console_errors == []
