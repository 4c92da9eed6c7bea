"""An owner's model evaluation runs as a Job on a real ``encode`` worker (untrained tiny model:
the numbers are meaningless, the machinery is real)."""

from __future__ import annotations

import os

import pytest

from annotator.choices import JobStatus
from annotator.models import Job, LabelClass, ModelEvaluation
from tests.support.sam2 import encode_cached

pytestmark = [pytest.mark.worker, pytest.mark.sam2, pytest.mark.timeout(600)]


def test_an_evaluation_started_through_the_api_runs_on_the_encode_worker(
    celery_worker, cast, ingested_image, approved, client_for, wait_for
):
    image = encode_cached(ingested_image("naip_rgbn_utm14_2020.tif"))
    field = LabelClass.objects.create(project=cast.project, name="field", colour="#22c55e", order=0)
    approved(image, 200, 200, 30, field)
    approved(image, 600, 420, 20, None)

    response = client_for(cast.owner).post(
        f"/api/v1/projects/{cast.project.pk}/model-evaluations/", {"max_clicks": 8}, format="json"
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["job"]["id"]
    assert wait_for(lambda: Job.objects.get(pk=job_id).is_finished, interval_s=0.5)
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert "UNTRAINED" in job.message
    assert job.worker and not job.worker.endswith(f":{os.getpid()}")  # another process, the worker, ran it

    body = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/model-evaluations/").json()["results"][0]
    assert body["status"] == "succeeded" and body["untrained"] is True
    summary = body["summary"]
    assert summary["objects"] == 2 and len(summary["miou"]) == 5
    assert set(summary) >= {"noc85", "noc90", "nof90", "miou", "skipped", "runtime_s", "seconds_per_100_objects"}
    assert [c["name"] for c in body["per_class"]] == ["field", None]
    for figures in body["per_class"]:
        assert set(figures) >= {"label_class", "objects", "noc85", "noc90", "nof90", "miou"}
        assert len(figures["miou"]) == 5
    evaluation = ModelEvaluation.objects.get(pk=body["id"])
    assert len(evaluation.object_results) == 2
    assert all(1 <= len(r["ious"]) <= 8 for r in evaluation.object_results)
