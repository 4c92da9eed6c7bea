"""``manage.py load_demo`` makes a demo whose dashboard has something to show: approved reference
ponds, three annotators on the same ground (Block A) and a model evaluation job; run twice, it
adds nothing. The ingest runs in the command's process; the evaluation job waits for a worker."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotator.choices import JobStatus
from annotator.demo import BLOCK_A, EVALUATION_SAMPLE, reference_features
from annotator.models import Annotation, AnnotationState, AssignedArea, Job, ModelEvaluation, Project
from annotator.quality.agreement import project_agreement

pytestmark = pytest.mark.django_db


def _load() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def _counts() -> tuple:
    return (
        Annotation.objects.count(),
        AssignedArea.objects.count(),
        ModelEvaluation.objects.count(),
        Job.objects.count(),
    )


def test_the_demo_has_approved_ponds_overlapping_areas_and_an_evaluation_and_a_second_load_adds_nothing(
    django_capture_on_commit_callbacks, settings
):
    settings.SAM2_ALLOW_UNTRAINED = True
    settings.SAM2_MODEL = "sam2.1_hiera_small"  # the demo project gets the configured model
    with django_capture_on_commit_callbacks(execute=False):  # no broker: the jobs stay queued rows
        first = _load()
        counts = _counts()
        second = _load()
    assert "46 approved reference ponds" in first, first
    assert _counts() == counts
    assert "0 approved reference ponds, 0 areas, 0 outlines" in second and "evaluation: there already" in second

    project = Project.objects.get()
    assert project.sam2_model == "sam2.1_hiera_small"
    people = {u.username: u.is_staff for u in get_user_model().objects.all()}
    # The owner is staff, so the demo can create projects and invite.
    assert people == {"owner": True, "reviewer": False, "annotator": False, "annotator2": False, "annotator3": False}
    approved = Annotation.objects.filter(state=AnnotationState.APPROVED, author__username="annotator")
    assert approved.count() == len(reference_features()) == 46
    areas = AssignedArea.objects.filter(name=BLOCK_A)
    assert sorted(a.assignee.username for a in areas) == ["annotator", "annotator2", "annotator3"]
    assert len({a.geometry.wkt for a in areas}) == 1  # the same ground, three times

    figures = project_agreement(project)
    pairs = {tuple(p["annotators"]): p for p in figures["pairs"]}
    # Block A holds 8 reference ponds; annotator2 missed one, annotator3 called one a field.
    assert figures["overall"]["clusters"] == 8
    assert pairs["annotator", "annotator2"]["matched"] == 7
    assert pairs["annotator", "annotator2"]["f1"] == pytest.approx(14 / 15, abs=1e-3)
    assert pairs["annotator", "annotator3"]["label_agreement"] == pytest.approx(7 / 8, abs=1e-3)
    # Shifts of 1.5 to 2.5 m and outlines grown or shrunk by 1 to 1.5 m: metres apart, well matched.
    for pair in pairs.values():
        assert 0.75 <= pair["mean_iou"] < 1.0 and 0.5 <= pair["median_boundary_m"] <= 4.0

    (evaluation,) = ModelEvaluation.objects.all()
    assert evaluation.model_name == "sam2.1_hiera_small" and evaluation.params["sample"] == EVALUATION_SAMPLE
    assert evaluation.job.status == JobStatus.QUEUED
