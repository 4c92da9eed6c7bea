"""/api/v1/projects/{id}/model-evaluations/: owners start an evaluation, every member reads them."""

from __future__ import annotations

import pytest

from annotator.choices import JobKind
from annotator.models import Job, ModelEvaluation

pytestmark = pytest.mark.django_db


def url(project, suffix: str = "") -> str:
    return f"/api/v1/projects/{project.pk}/model-evaluations/{suffix}"


def test_an_owner_starts_an_evaluation_and_its_job_is_queued(cast, client_for, settings):
    settings.SAM2_ALLOW_UNTRAINED = True
    response = client_for(cast.owner).post(url(cast.project), {"sample": 50, "seed": 4}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["model_name"] == cast.project.sam2_model and body["untrained"] is True
    assert body["params"] == {"sample": 50, "seed": 4, "max_clicks": 20}
    assert body["status"] == "queued" and body["job"]["kind"] == "evaluate"
    evaluation = ModelEvaluation.objects.get(pk=body["id"])
    assert evaluation.job.kind == JobKind.EVALUATE and evaluation.job.target == evaluation
    assert evaluation.created_by == cast.owner


@pytest.mark.parametrize("persona", ["reviewer", "annotator", "viewer"])
def test_members_below_owner_cannot_start_one(cast, client_for, persona):
    response = client_for(getattr(cast, persona)).post(url(cast.project), {}, format="json")
    assert response.status_code == 403
    assert response.json() == {"code": "forbidden", "detail": "Only the project's owners can start a model evaluation."}
    assert not Job.objects.filter(kind=JobKind.EVALUATE).exists()


def test_a_stranger_sees_nothing_of_the_project(cast, client_for):
    for response in (
        client_for(cast.stranger).get(url(cast.project)),
        client_for(cast.stranger).get(url(cast.project, "setup/")),
        client_for(cast.stranger).post(url(cast.project), {}, format="json"),
    ):
        assert response.status_code == 404


@pytest.mark.parametrize("persona", ["owner", "reviewer", "annotator", "viewer"])
def test_every_member_reads_the_evaluations_and_what_they_may_do(cast, client_for, persona, settings):
    settings.SAM2_ALLOW_UNTRAINED = True
    from annotator.quality import evaluation

    started = evaluation.start_evaluation(
        cast.project, cast.owner, evaluation.parse_params(cast.project, None, None, None, None)
    )
    client = client_for(getattr(cast, persona))
    listed = client.get(url(cast.project)).json()
    assert [e["id"] for e in listed["results"]] == [started.pk]
    assert "object_results" not in listed["results"][0]
    detail = client.get(url(cast.project, f"{started.pk}/")).json()
    assert detail["object_results"] == [] and detail["summary"] == {}
    setup = client.get(url(cast.project, "setup/")).json()
    assert setup["allowed_actions"] == (["start"] if persona == "owner" else [])
    assert setup["project_model"] == cast.project.sam2_model and setup["approved"] == 0


def test_bad_parameters_are_refused_naming_the_field(cast, client_for):
    client = client_for(cast.owner)
    response = client.post(url(cast.project), {"model": "sam9"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert "Unknown SAM2 model" in response.json()["detail"]
    response = client.post(url(cast.project), {"sample": 0}, format="json")
    assert response.status_code == 400 and "sample" in str(response.json())
    assert not ModelEvaluation.objects.exists()
