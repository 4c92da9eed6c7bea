"""/api/v1/images/{id}/draft-runs/: reviewers and owners start runs; every parameter is bounded."""

from __future__ import annotations

import pytest

from annotator.choices import ImageStatus, JobKind
from annotator.models import DraftRun, Job, LabelClass

pytestmark = pytest.mark.django_db


def url(image) -> str:
    return f"/api/v1/images/{image.pk}/draft-runs/"


@pytest.fixture
def encoded(image):
    """The cast's image marked encoded (no features: these tests never run the job)."""
    image.status = ImageStatus.ENCODED
    image.save(update_fields=["status"])
    return image


def test_a_reviewer_starts_a_run_with_samples_defaults_and_its_job_is_queued(cast, client_for, encoded, settings):
    settings.SAM2_ALLOW_UNTRAINED = True
    ring = [[-98.695, 47.005], [-98.685, 47.005], [-98.685, 47.015], [-98.695, 47.005]]
    area = {"type": "Polygon", "coordinates": [ring]}
    response = client_for(cast.reviewer).post(
        url(encoded), {"kind": "everything", "area": area, "params": {"points_per_side": 16}}, format="json"
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "everything" and body["status"] == "queued" and body["job"]["kind"] == "drafts"
    assert body["params"]["points_per_side"] == 16
    assert body["params"]["pred_iou_thresh"] == 0.8 and body["params"]["stability_score_thresh"] == 0.95
    assert body["params"]["box_nms_thresh"] == 0.7 and body["params"]["max_drafts"] == 2000
    assert body["area"]["type"] == "MultiPolygon" and body["untrained"] is True
    run = DraftRun.objects.get(pk=body["id"])
    assert run.job.kind == JobKind.DRAFTS and run.job.target == run and run.created_by == cast.reviewer
    listed = client_for(cast.viewer).get(url(encoded)).json()
    assert [r["id"] for r in listed["results"]] == [run.pk]
    assert client_for(cast.viewer).get(f"/api/v1/draft-runs/{run.pk}/").json()["id"] == run.pk


@pytest.mark.parametrize("persona", ["annotator", "viewer"])
def test_annotators_and_viewers_cannot_start_a_run(cast, client_for, encoded, persona):
    response = client_for(getattr(cast, persona)).post(url(encoded), {"kind": "everything"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not Job.objects.filter(kind=JobKind.DRAFTS).exists()


def test_a_stranger_sees_nothing_of_the_image_or_its_runs(cast, client_for, encoded):
    run = DraftRun.objects.create(project=cast.project, image=encoded, kind="everything", model_name="m")
    stranger = client_for(cast.stranger)
    assert stranger.get(url(encoded)).status_code == 404
    assert stranger.post(url(encoded), {"kind": "everything"}, format="json").status_code == 404
    assert stranger.get(f"/api/v1/draft-runs/{run.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        ({"kind": "all"}, None),
        ({"kind": "everything", "params": {"points_per_side": 0}}, "points_per_side must be between 1 and 128."),
        ({"kind": "everything", "params": {"pred_iou_thresh": 1.5}}, "pred_iou_thresh must be between 0.0 and 1.0."),
        ({"kind": "everything", "params": {"points_per_batch": 2.5}}, "points_per_batch must be a whole number."),
        ({"kind": "everything", "params": {"max_drafts": 10**9}}, "max_drafts must be between 1 and 10000."),
        ({"kind": "everything", "params": {"use_m2m": "yes"}}, "use_m2m must be true or false."),
        ({"kind": "everything", "params": {"crop_n_layers": 1}}, "Unknown parameter 'crop_n_layers'."),
        (
            {"kind": "everything", "params": {"similarity_threshold": 0.5}},
            "similarity_threshold applies to find-similar runs only.",
        ),
        ({"kind": "similar"}, "Find similar needs a label_class."),
        ({"kind": "everything", "label_class": 999999}, "label_class is not a class of this project."),
        ({"kind": "everything", "assignment": 999999}, "assignment is not an assigned area of this image."),
        ({"kind": "everything", "area": {"type": "Point", "coordinates": [0, 0]}}, None),
    ],
)
def test_bad_requests_get_a_400_with_a_sentence(cast, client_for, encoded, body, sentence):
    response = client_for(cast.owner).post(url(encoded), body, format="json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] == "invalid" and payload["detail"]
    if sentence is not None:
        assert payload["detail"] == sentence
    assert not DraftRun.objects.exists()


def test_find_similar_without_an_approved_example_is_refused(cast, client_for, encoded):
    field = LabelClass.objects.create(project=cast.project, name="field", colour="#22c55e", order=0)
    response = client_for(cast.owner).post(url(encoded), {"kind": "similar", "label_class": field.pk}, format="json")
    assert response.status_code == 400
    assert "No approved 'field' annotation" in response.json()["detail"]


def test_an_image_not_yet_encoded_is_refused_with_a_409(cast, client_for, image):
    response = client_for(cast.owner).post(url(image), {"kind": "everything"}, format="json")
    assert response.status_code == 409
    assert "encoded" in response.json()["detail"]
