"""The demo project's dashboard, in Chromium, as its owner: built by the code load_demo runs
(annotator.demo) on the demo scene, with real workers. The model evaluation the demo queues
runs on the encode worker (a smaller sample here, for CI time) and its table and curve show;
the agreement of the three annotators of Block A shows; the owner makes consensus drafts of
Block A, a job on the default worker whose progress and outcome the dashboard shows; then the
exports form offers to square building corners."""

from __future__ import annotations

import pytest

from annotator.choices import JobStatus, Role
from annotator.models import Annotation, AnnotationSource, AssignedArea, Export, Job, LabelClass, Membership
from tests.support.sam2 import encode_cached

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.sam2, pytest.mark.timeout(900)]


def test_the_owner_reads_the_demo_evaluation_and_agreement_and_makes_consensus_drafts(
    celery_worker, cast, make_user, ingested_image, browser_as, app, screenshot, wait_for
):
    from annotator import demo
    from annotator.management.commands.load_demo import DEMO_CLASSES

    project = cast.project
    for order, (name, colour) in enumerate(DEMO_CLASSES):
        LabelClass.objects.create(project=project, name=name, colour=colour, order=order)
    others = [make_user("annotator2"), make_user("annotator3")]
    for person in others:
        Membership.objects.create(project=project, user=person, role=Role.ANNOTATOR)
    image = encode_cached(ingested_image("naip_rgbn_utm14_2020.tif"))
    demo.add_demo_annotations(project, image, cast.annotator, cast.reviewer, others)
    evaluation = demo.queue_demo_evaluation(project, cast.owner, sample=4, max_clicks=6)
    assert wait_for(lambda: Job.objects.get(pk=evaluation.job_id).is_finished, interval_s=0.5)
    assert Job.objects.get(pk=evaluation.job_id).status == JobStatus.SUCCEEDED

    owner = browser_as("owner")
    page = owner.page
    page.goto(f"{app}/projects/{project.pk}/dashboard/")
    section = page.get_by_test_id("evaluation")
    overall = section.get_by_test_id("evaluation-overall")
    overall.wait_for()
    assert overall.inner_text().split("\t")[:2] == ["All classes", "4"]
    assert section.get_by_test_id("evaluation-class").first.locator("th").inner_text() == "pond"
    assert page.locator("#chart-evaluation").is_visible()
    section.get_by_test_id("evaluation-untrained").wait_for()
    section.scroll_into_view_if_needed()
    screenshot(page, "1-evaluation")

    page.locator("[data-testid=agreement][data-loaded=true]").wait_for()
    pair = page.locator('[data-testid=agreement-pairs] tr[data-pair="annotator|annotator2"] td')
    assert [pair.nth(i).inner_text() for i in (1, 2)] == ["15", "7"]  # Block A: 8 + 7 ponds, 7 matched
    assert "8 objects drawn by two or more annotators" in page.get_by_test_id("agreement-overall").inner_text()
    page.locator("#agreement").scroll_into_view_if_needed()
    screenshot(page, "2-agreement")

    block = AssignedArea.objects.get(name=demo.BLOCK_A, assignee=others[0])
    page.locator("#agreement-area").select_option(str(block.pk))
    page.locator("#make-consensus:not([disabled])").click()
    run = page.get_by_test_id("consensus-run")
    run.wait_for()
    page.locator("#consensus-status").filter(has_text="8 consensus drafts sent for review").wait_for()
    assert run.get_attribute("data-status") == "succeeded"
    assert Annotation.objects.filter(source=AnnotationSource.CONSENSUS).count() == 8
    screenshot(page, "3-consensus")

    page.goto(f"{app}/projects/{project.pk}/exports/")
    page.locator("#regularise-class option", has_text="building").wait_for(state="attached")
    assert page.locator("#regularise-45").is_disabled()
    page.locator("#regularise-class").select_option(label="building")
    page.locator("#regularise-45").check()
    page.locator("#regularise-choice").scroll_into_view_if_needed()
    screenshot(page, "4-exports-regularise")
    page.get_by_role("button", name="Start export").click()
    page.locator("#export-rows tr[data-status=succeeded]").wait_for()
    building = LabelClass.objects.get(project=project, name="building")
    assert Export.objects.get().options["regularise"]["label_class"] == building.pk
    assert "building squared (45° allowed)" in page.locator("#export-rows").inner_text()
    screenshot(page, "5-exported")
    assert owner.console_errors == []
