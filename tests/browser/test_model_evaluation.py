"""Model evaluation on the dashboard, in Chromium: an owner reads the figures and the curve
(with the untrained-weights warning), starts a new evaluation on a sample; a viewer reads
without the Start controls."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

# IoU after each click of four objects, as an evaluation stores them (see tests/evaluation/test_figures.py).
FIELDS = [[0.5, 0.86, 0.91, 0.95, 0.95], [0.9, 0.92, 0.93, 0.94, 0.95]]
PONDS = [[0.1] * 20, [0.3, 0.6, 0.88]]


@pytest.fixture
def finished_evaluation(cast, settings):
    from django.utils import timezone

    from annotator.choices import JobKind, JobStatus
    from annotator.models import Job, LabelClass, ModelEvaluation
    from annotator.quality.evaluation import per_class_figures, summarise

    field = LabelClass.objects.create(project=cast.project, name="field", colour="#22c55e", order=0)
    pond = LabelClass.objects.create(project=cast.project, name="<b>pond</b>", colour="#3b82f6", order=1)
    from annotator.quality.evaluation import ObjectResult

    results = [ObjectResult(i, 1, field.pk, 0, [0, 0, 934, 723], ious) for i, ious in enumerate(FIELDS)]
    results += [ObjectResult(9 + i, 1, pond.pk, 0, [0, 0, 934, 723], ious) for i, ious in enumerate(PONDS)]
    evaluation = ModelEvaluation.objects.create(
        project=cast.project,
        created_by=cast.owner,
        model_name="sam2.1_hiera_tiny",
        checkpoint_digest="untrained-seed-0-abcdef0123456789",
        untrained=True,
        params={"sample": None, "seed": 0, "max_clicks": 20},
        summary={
            **summarise([r.ious for r in results], 20),
            "approved": 5,
            "skipped": {"no_window": 1},
            "max_clicks": 20,
            "runtime_s": 12.5,
            "clicks_s": 12.0,
            "seconds_per_100_objects": 312.5,
        },
        per_class=per_class_figures(cast.project, results, 20),
        finished_at=timezone.now(),
    )
    evaluation.job = Job.objects.create(
        project=cast.project, kind=JobKind.EVALUATE, target=evaluation, status=JobStatus.SUCCEEDED, progress=1.0
    )
    evaluation.save(update_fields=["job"])
    return evaluation


def test_an_owner_reads_the_evaluation_and_starts_another_on_a_sample(
    cast, finished_evaluation, browser_as, app, screenshot, settings
):
    from annotator.models import ModelEvaluation

    settings.SAM2_ALLOW_UNTRAINED = True
    owner = browser_as("owner")
    page = owner.page
    page.goto(f"{app}/projects/{cast.project.pk}/dashboard/")
    section = page.get_by_test_id("evaluation")
    section.get_by_test_id("evaluation-untrained").wait_for()
    overall = section.get_by_test_id("evaluation-overall")
    # NoC@85 6.50, NoC@90 11.00, NoF@90 2, mIoU 0.450 ... 0.720 (computed by hand in test_figures.py).
    assert overall.inner_text().split("\t") == [
        "All classes",
        "4",
        "6.50",
        "11.00",
        "2",
        "0.450",
        "0.620",
        "0.705",
        "0.718",
        "0.720",
    ]
    classes = section.get_by_test_id("evaluation-class")
    assert classes.count() == 2
    assert classes.nth(1).locator("th").inner_text() == "<b>pond</b>"  # a class name is text, never markup
    assert "1 larger than any window" in section.get_by_test_id("evaluation-identity").inner_text()
    assert page.locator("#chart-evaluation").is_visible()
    section.scroll_into_view_if_needed()
    screenshot(page, "figures")

    controls = section.get_by_test_id("evaluation-controls")
    controls.wait_for()
    page.get_by_label("Sample size").fill("3")
    page.get_by_label("Seed of the sample").fill("7")
    page.get_by_role("button", name="Start evaluation").click()
    section.get_by_test_id("evaluation-status").filter(has_text="queued").wait_for()
    started = ModelEvaluation.objects.exclude(pk=finished_evaluation.pk).get()
    assert started.params == {"sample": 3, "seed": 7, "max_clicks": 20} and started.created_by == cast.owner
    screenshot(page, "queued")
    assert not owner.console_errors


def test_a_viewer_reads_the_evaluation_without_the_start_controls(cast, finished_evaluation, browser_as, app):
    viewer = browser_as("viewer")
    page = viewer.page
    page.goto(f"{app}/projects/{cast.project.pk}/dashboard/")
    section = page.get_by_test_id("evaluation")
    section.get_by_test_id("evaluation-overall").wait_for()
    page.wait_for_function("document.getElementById('evaluation').dataset.loaded === 'true'")
    assert section.get_by_test_id("evaluation-controls").is_hidden()
    assert (
        page.get_by_role("button", name="Start evaluation").count() == 0
        or not page.get_by_role("button", name="Start evaluation").is_visible()
    )
