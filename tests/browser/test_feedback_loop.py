"""The feedback loop in Chromium, each step as the persona who takes it: a reviewer rejects
an annotation with a comment; the annotator finds the comment pinned on the map and in the
annotation's panel, replies, fixes the outline and submits again; the reviewer reads the
reply and approves; the dashboard counts the rejection against the annotator's first pass.
"""

from __future__ import annotations

import pytest

from tests.support.map_gestures import drag_vertex, draw_square, geometry_of

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

REASON = "Follow the field edge on the east side"
ANSWER = "Moved the east edge out to the fence line."


def test_a_rejection_reaches_the_annotator_on_the_map_and_the_fix_is_approved(
    cast, ingested_image, browser_as, app, screenshot, wait_for
):
    from annotator.models import Annotation, LabelClass, ReviewComment

    LabelClass.objects.create(project=cast.project, name="field", colour="#eab308")
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    map_url = f"{app}/images/{image.pk}/map/"

    # --- the annotator outlines a field, labels it and submits it ---
    annotator = browser_as("annotator")
    page = annotator.page
    page.goto(map_url)
    page.locator("body[data-ready=true]").wait_for()
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()
    page.keyboard.press("1")
    page.keyboard.press("p")
    draw_square(page, size=140)
    page.locator(".current-annotation").wait_for()
    annotation = Annotation.objects.get(image=image)
    page.locator("#comments-panel", has_text="No comments on this annotation.").wait_for()
    page.keyboard.press("s")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).state == "submitted")
    screenshot(page, "1-annotator-submitted")

    # --- the reviewer rejects it, saying why ---
    reviewer = browser_as("reviewer")
    rpage = reviewer.page
    rpage.goto(f"{app}/projects/{cast.project.pk}/review/")
    rpage.locator(f'#map[data-annotation-id="{annotation.pk}"]').wait_for()
    rpage.keyboard.press("r")
    rpage.locator("#reject-comment").fill(REASON)
    screenshot(rpage, "2-reviewer-rejects")
    rpage.keyboard.press("Control+Enter")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).state == "rejected")
    rpage.get_by_text("Nothing to review").wait_for()

    # --- the annotator opens the image: the reason is pinned on the map, on the annotation ---
    page.goto(map_url)
    page.locator("body[data-ready=true]").wait_for()
    page.locator("[data-testid=image-tiles] img.leaflet-tile-loaded").first.wait_for()
    page.locator("#comments-panel", has_text="1 open comment thread on this image").wait_for()
    pin = page.locator(".comment-pin", has_text=REASON)
    pin.wait_for()
    assert pin.inner_text().startswith("reviewer:")
    outline = page.locator("path.leaflet-interactive").first.bounding_box()
    dot = page.locator(".comment-dot").bounding_box()
    centre = (dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
    assert outline["x"] < centre[0] < outline["x"] + outline["width"], (outline, dot)
    assert outline["y"] < centre[1] < outline["y"] + outline["height"], (outline, dot)
    screenshot(page, "3-annotator-sees-the-pin")

    # A click on the pin selects its annotation, and the panel shows the thread.
    page.locator(".comment-dot").click()
    page.locator("#selection", has_text=f"Annotation #{annotation.pk} · rejected").wait_for()
    panel = page.locator("#comments-panel")
    panel.get_by_role("heading", name=f"Comments on #{annotation.pk}").wait_for()
    thread = panel.locator("li.thread").first
    assert thread.locator(".comment-head strong").inner_text() == "reviewer"
    assert thread.locator(".comment-body").inner_text() == REASON
    assert thread.locator("time").get_attribute("datetime")
    # Resolving is the reviewer's call (access.py): the annotator answers.
    assert thread.get_by_role("button", name="Resolve").count() == 0
    screenshot(page, "4-annotator-reads-the-thread")

    panel.get_by_label("Reply to reviewer").fill(ANSWER)
    panel.get_by_role("button", name="Reply").click()
    panel.locator("li.thread .comment-body", has_text=ANSWER).wait_for()
    reply = ReviewComment.objects.filter(thread__annotation=annotation).order_by("id").last()
    assert (reply.author.username, reply.body) == ("annotator", ANSWER)
    assert page.locator(".comment-pin", has_text="· 1 reply").count() == 1  # the pin counts the reply

    # The fix: the east edge moves out (vertex 1 is the north-east corner).
    before = Annotation.objects.get(pk=annotation.pk)
    drag_vertex(page, 1, 40, 0)
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).version > before.version)
    page.locator("#save-status", has_text="Saved").wait_for()
    fixed = Annotation.objects.get(pk=annotation.pk)
    assert fixed.state == "draft"
    assert geometry_of(fixed).bounds[2] > geometry_of(before).bounds[2]  # further east
    screenshot(page, "5-annotator-replied-and-fixed")
    page.locator("#map").focus()  # shortcuts act when no text box has the focus
    page.keyboard.press("s")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).state == "submitted")

    # --- the reviewer reads the reply and approves ---
    rpage.reload()
    rpage.locator(f'#map[data-annotation-id="{annotation.pk}"]').wait_for()
    rpage.locator("#comments", has_text=ANSWER).wait_for()
    screenshot(rpage, "6-reviewer-reads-the-reply")
    rpage.keyboard.press("a")
    assert wait_for(lambda: Annotation.objects.get(pk=annotation.pk).state == "approved")
    rpage.get_by_text("Nothing to review").wait_for()

    # --- the dashboard: one rejection, no first-pass approval for the annotator ---
    rpage.goto(f"{app}/projects/{cast.project.pk}/dashboard/")
    rpage.locator("#dashboard[data-loaded=true]").wait_for()
    record = rpage.locator('[data-testid=review-record][data-username="annotator"]')
    assert record.locator("[data-figure=rejections]").inner_text() == "1 rejection"
    assert record.locator("[data-figure=first-pass]").inner_text() == "first-pass approval rate 0 %"
    assert rpage.get_by_test_id("rejections-ever").locator(".n").inner_text() == "1"
    assert rpage.get_by_test_id("count-rejected").locator(".n").inner_text() == "0"  # none rejected now
    screenshot(rpage, "7-dashboard")

    assert annotator.console_errors == [] and reviewer.console_errors == []


def test_a_reviewer_resolves_a_thread_on_the_map_and_a_viewer_reads_threads_without_answering(
    cast, ingested_image, browser_as, app, screenshot, wait_for
):
    from annotator.models import CommentThread
    from annotator.workflow import annotations, comments, review

    image = ingested_image("naip_rgbn_utm14_2020.tif")
    (west, south, east, north) = image.footprint.extent
    cx, cy, half = (west + east) / 2, (south + north) / 2, (east - west) / 20
    ring = [[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]]
    square = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    annotation = annotations.create_annotation(image, cast.annotator, square)
    review.transition(annotation.pk, "submit", cast.annotator)
    review.transition(annotation.pk, "reject", cast.reviewer, comment="Two fields, not one: split at the track.")
    comments.reply(CommentThread.objects.get(annotation=annotation), cast.annotator, "Split it into two.")
    note = {"type": "Point", "coordinates": [cx + 2 * half, cy]}
    comments.open_thread(cast.project, cast.owner, "Is this <b>a pond</b>?", image_id=image.pk, point=note)
    focused = f"{app}/images/{image.pk}/map/?annotation={annotation.pk}"

    # --- the reviewer settles the thread: it leaves the map and folds away in the panel ---
    page = browser_as("reviewer").page
    page.goto(focused)
    page.locator("body[data-ready=true]").wait_for()
    panel = page.locator("#comments-panel")
    thread = panel.locator("li.thread", has_text="Two fields")
    thread.locator(".comment-body", has_text="Split it into two.").wait_for()
    page.locator(".comment-pin", has_text="Two fields").wait_for()
    # The point thread's text stays text: its markup is shown, never rendered.
    assert page.locator(".comment-pin", has_text="Is this <b>a pond</b>?").count() == 1
    assert page.locator(".comment-pin b").count() == 0
    thread.get_by_role("button", name="Resolve").click()
    toggle = panel.get_by_role("button", name="Show 1 resolved thread")
    toggle.wait_for()
    assert panel.locator("li.thread").count() == 0
    # Leaflet fades a closed label out before removing it.
    page.locator(".comment-pin", has_text="Two fields").wait_for(state="detached")
    assert wait_for(lambda: CommentThread.objects.get(annotation=annotation).resolved)
    toggle.click()
    resolved = panel.locator("li.thread.resolved", has_text="Two fields")
    resolved.locator(".thread-status", has_text="Resolved by reviewer").wait_for()
    assert resolved.get_by_role("button", name="Reopen").is_visible()
    page.locator(".comment-dot.resolved").wait_for()
    screenshot(page, "1-reviewer-resolved")

    # --- a viewer reads every thread but has nothing to answer with ---
    vpage = browser_as("viewer").page
    vpage.goto(focused)
    vpage.locator("body[data-ready=true]").wait_for()
    vpanel = vpage.locator("#comments-panel")
    vpanel.get_by_role("button", name="Show 1 resolved thread").click()
    vpanel.locator("li.thread.resolved .comment-body", has_text="Split it into two.").wait_for()
    assert vpanel.locator("textarea").count() == 0
    assert vpanel.get_by_role("button").all_inner_texts() == ["Hide 1 resolved thread"]
    vpage.keyboard.press("Escape")  # deselect: the panel turns to the threads pinned to points
    vpanel.get_by_role("heading", name="Comments", exact=True).wait_for()
    vpanel.locator(".comment-body", has_text="Is this <b>a pond</b>?").wait_for()
    assert vpanel.locator("textarea").count() == 0
    screenshot(vpage, "2-viewer-reads")
