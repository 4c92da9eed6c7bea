"""Review by risk: the score from SAM2's figures, the queue in risk order, bulk decisions by score."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.workflow import drafted


def test_the_risk_is_the_weighted_mean_of_its_parts_as_computed_by_hand():
    from annotator.workflow.risk import risk_of

    figures = {"predicted_iou": 0.7, "stability": 0.9, "candidate_disagreement": 0.3, "touches_window_edge": True}
    found = risk_of(figures, area_m2=400.0, typical_area_m2=100.0)
    # IoU (1 - 0.7) / 0.5 = 0.6; stability (1 - 0.9) / 0.5 = 0.2; disagreement 0.3; edge 1;
    # area |ln 4| / ln 10 = 0.602060. Weights 0.30, 0.25, 0.15, 0.15, 0.15 (sum 1).
    parts = {name: part["part"] for name, part in found.parts.items()}
    assert parts == pytest.approx(
        {"predicted_iou": 0.6, "stability": 0.2, "candidate_disagreement": 0.3, "touches_window_edge": 1.0,
         "area": 0.602060}, abs=1e-6,
    )  # fmt: skip
    assert found.score == pytest.approx(0.3 * 0.6 + 0.25 * 0.2 + 0.15 * 0.3 + 0.15 * 1.0 + 0.15 * 0.602060, abs=1e-6)
    assert found.parts["area"]["ratio"] == 4.0

    # Without disagreement (one candidate) and without a typical area, the weights present share the whole.
    alone = risk_of({"predicted_iou": 0.95, "stability": 0.4, "touches_window_edge": False})
    assert set(alone.parts) == {"predicted_iou", "stability", "touches_window_edge"}
    assert alone.score == pytest.approx((0.3 * 0.1 + 0.25 * 1.0 + 0.15 * 0.0) / 0.7, abs=1e-6)
    # A tenth of the typical area is as far off as ten times it; nothing without a predicted IoU.
    assert risk_of({"predicted_iou": 1.0}, 10.0, 100.0).parts["area"]["part"] == pytest.approx(1.0)
    assert risk_of({"stability": 0.2}) is None
    assert risk_of({"predicted_iou": math.nan}) is None


def queue(client, cast, **params) -> dict:
    response = client.get(f"/api/v1/projects/{cast.project.pk}/review/queue/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_queue_of_a_run_is_ordered_by_risk_in_a_fixed_number_of_queries(cast, image, client_for):
    client = client_for(cast.reviewer)
    drafted(cast, image, run=7, risks=[0.2, 0.9, None, 0.5])
    drafted(cast, image, run=8, risks=[0.99])  # another run
    with CaptureQueriesContext(connection) as first:
        body = queue(client, cast, run=7, order="risk")  # scores the run's fresh drafts
    risks = [f["properties"]["risk"] for f in body["features"]]
    assert risks[:3] == pytest.approx([0.9, 0.5, 0.2]) and risks[3] is None  # no figures: last
    assert body["features"][0]["properties"]["risk_parts"]["predicted_iou"]["value"] == pytest.approx(0.55)
    assert "approve" in body["features"][0]["properties"]["allowed_actions"]  # the runner reviews the model's drafts
    lowest_first = queue(client, cast, run=7, order="risk_low", unscored="first")
    assert [f["properties"]["risk"] for f in lowest_first["features"]][:2] == [None, pytest.approx(0.2)]

    with CaptureQueriesContext(connection) as few:
        queue(client, cast, run=7, order="risk")
    drafted(cast, image, run=7, risks=[i / 1000 for i in range(150)])
    queue(client, cast, run=7, order="risk")  # scores the new ones
    with CaptureQueriesContext(connection) as many:
        body = queue(client, cast, run=7, order="risk", page_size=200)
    assert body["count"] == 154
    assert len(many) == len(few) <= len(first)
    assert [f["properties"]["risk"] for f in body["features"][:2]] == pytest.approx([0.9, 0.5])


def bulk(client, cast, **body):
    return client.post(f"/api/v1/projects/{cast.project.pk}/review/bulk-by-risk/", body, format="json")


def test_bulk_approval_below_a_risk_records_one_review_event_per_annotation_after_a_count_preview(
    cast, image, client_for
):
    from annotator.models import Annotation, AnnotationVersion

    confident = drafted(cast, image, run=3, risks=[0.05, 0.1, 0.15])
    doubtful = drafted(cast, image, run=3, risks=[0.6, 0.8])
    middling = drafted(cast, image, run=3, risks=[0.4, None])
    other_run = drafted(cast, image, run=4, risks=[0.01])

    assert bulk(client_for(cast.annotator), cast, run=3, approve_below=0.3, dry_run=False).status_code == 403
    assert bulk(client_for(cast.annotator), cast, run=3, approve_below=0.3).json()["code"] == "forbidden"

    reviewer = client_for(cast.reviewer)
    preview = bulk(reviewer, cast, run=3, approve_below=0.3, reject_from=0.6).json()
    assert {k: preview[k] for k in ("approve", "reject", "kept", "unscored")} == {
        "approve": 3, "reject": 2, "kept": 1, "unscored": 1,
    }  # fmt: skip
    assert preview["approved"] == [] and AnnotationVersion.objects.filter(action="approved").count() == 0

    no_reason = bulk(reviewer, cast, run=3, approve_below=0.3, reject_from=0.6, dry_run=False)
    assert no_reason.status_code == 400 and no_reason.json()["code"] == "invalid"

    done = bulk(
        reviewer, cast, run=3, approve_below=0.3, reject_from=0.6, comment="Not a field: a shadow.", dry_run=False
    ).json()
    assert sorted(done["approved"]) == sorted(a.pk for a in confident)
    assert sorted(done["rejected"]) == sorted(a.pk for a in doubtful)
    assert done["refused"] == [] and done["remaining"] == 0
    for annotation in confident + doubtful:
        (event,) = AnnotationVersion.objects.filter(annotation=annotation, action__in=["approved", "rejected"])
        assert (event.user, event.version) == (cast.reviewer, 2)
    for annotation in doubtful:
        assert annotation.comment_threads.get().comments.get().body == "Not a field: a shadow."
    states = dict(Annotation.objects.values_list("id", "state"))
    assert {states[a.pk] for a in middling + other_run} == {"draft"}
