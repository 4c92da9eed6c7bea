"""Review states: every allowed and every refused transition, through the API."""

from __future__ import annotations

import pytest

from tests.support.workflow import CENTRE, square

STATES = ["draft", "submitted", "approved", "rejected"]
ALLOWED = {
    ("draft", "submit"): "submitted",
    ("submitted", "approve"): "approved",
    ("submitted", "reject"): "rejected",
}


@pytest.mark.parametrize("start", STATES)
@pytest.mark.parametrize("step", ["submit", "approve", "reject"])
def test_a_step_moves_an_annotation_only_from_the_states_it_starts_from(
    cast,
    make_annotation,
    client_for,
    start,
    step,
):
    annotation = make_annotation(cast.annotator, state=start, reviewer=cast.reviewer)
    actor = cast.annotator if step == "submit" else cast.reviewer
    response = client_for(actor).post(
        f"/api/v1/annotations/{annotation.pk}/{step}/", {"comment": "Outline misses the shed."}, format="json"
    )
    annotation.refresh_from_db()
    if (start, step) in ALLOWED:
        assert response.status_code == 200, response.content
        assert response.json()["properties"]["state"] == ALLOWED[(start, step)]
        assert annotation.state == ALLOWED[(start, step)]
        assert annotation.versions.order_by("-version").first().action == ALLOWED[(start, step)]
    else:
        assert response.status_code == 409, response.content
        assert response.json()["state"] == start
        assert annotation.state == start


def test_a_rejection_needs_a_comment(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator, state="submitted")
    response = client_for(cast.reviewer).post(f"/api/v1/annotations/{annotation.pk}/reject/", {"comment": "  "})
    assert response.status_code == 400
    assert response.json()["field"] == "comment"
    annotation.refresh_from_db()
    assert annotation.state == "submitted"


def test_a_rejection_opens_a_comment_thread_on_the_annotation(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator, state="submitted")
    client_for(cast.reviewer).post(
        f"/api/v1/annotations/{annotation.pk}/reject/", {"comment": "The roof is cut off."}, format="json"
    )
    threads = (
        client_for(cast.annotator)
        .get(f"/api/v1/projects/{cast.project.pk}/comments/", {"annotation": annotation.pk})
        .json()["results"]
    )
    assert [c["body"] for c in threads[0]["comments"]] == ["The roof is cut off."]
    assert threads[0]["comments"][0]["author"] == "reviewer"


def test_editing_a_rejected_annotation_makes_it_a_draft_that_can_be_submitted_again(
    cast,
    make_annotation,
    client_for,
):
    annotation = make_annotation(cast.annotator, state="rejected", reviewer=cast.reviewer)
    client = client_for(cast.annotator)
    edited = client.patch(
        f"/api/v1/annotations/{annotation.pk}/",
        {"version": annotation.version, "geometry": square(*CENTRE, half=0.0007)},
        format="json",
    )
    assert edited.json()["properties"]["state"] == "draft"
    resubmitted = client.post(f"/api/v1/annotations/{annotation.pk}/submit/", {}, format="json")
    assert resubmitted.json()["properties"]["state"] == "submitted"
    actions = [v["action"] for v in client.get(f"/api/v1/annotations/{annotation.pk}/history/").json()]
    assert actions == ["created", "submitted", "rejected", "updated", "submitted"]


def test_nobody_approves_their_own_annotation_by_default(cast, make_annotation, client_for):
    annotation = make_annotation(cast.reviewer, state="submitted")
    response = client_for(cast.reviewer).post(f"/api/v1/annotations/{annotation.pk}/approve/", {}, format="json")
    assert response.status_code == 403
    assert "your own" in response.json()["detail"]


def test_a_project_can_allow_approving_ones_own_annotation(cast, make_annotation, client_for):
    cast.project.allow_self_approval = True
    cast.project.save()
    annotation = make_annotation(cast.owner, state="submitted")
    response = client_for(cast.owner).post(f"/api/v1/annotations/{annotation.pk}/approve/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["properties"]["reviewed_by"] == "owner"


def test_an_annotator_cannot_edit_their_annotation_while_it_is_under_review(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator, state="submitted")
    response = client_for(cast.annotator).patch(
        f"/api/v1/annotations/{annotation.pk}/", {"version": annotation.version, "attributes": {}}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["state"] == "submitted"


def test_a_reviewer_can_fix_a_submitted_annotation_before_approving_it(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator, state="submitted")
    client = client_for(cast.reviewer)
    fixed = client.patch(
        f"/api/v1/annotations/{annotation.pk}/",
        {"version": annotation.version, "geometry": square(*CENTRE, half=0.0004)},
        format="json",
    )
    assert fixed.json()["properties"]["state"] == "submitted"
    approved = client.post(f"/api/v1/annotations/{annotation.pk}/approve/", {}, format="json")
    assert approved.json()["properties"]["state"] == "approved"


def test_a_transition_naming_a_stale_version_is_refused(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator, state="submitted")
    response = client_for(cast.reviewer).post(
        f"/api/v1/annotations/{annotation.pk}/approve/", {"version": annotation.version - 1}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["current_version"] == annotation.version


class TestReviewQueue:
    def test_it_hands_out_the_oldest_submission_first_with_its_neighbours(
        self,
        cast,
        make_annotation,
        client_for,
    ):
        first = make_annotation(cast.annotator, state="submitted")
        neighbour = make_annotation(cast.annotator, geometry=square(CENTRE[0] + 0.0012, CENTRE[1]))
        make_annotation(cast.annotator, state="submitted", geometry=square(CENTRE[0] - 0.008, CENTRE[1]))
        body = client_for(cast.reviewer).get(f"/api/v1/projects/{cast.project.pk}/review/next/").json()
        assert body["annotation"]["id"] == first.pk
        assert body["remaining"] == 2
        assert [f["id"] for f in body["neighbours"]["features"]] == [neighbour.pk]

    def test_it_skips_the_reviewers_own_work(self, cast, make_annotation, client_for):
        make_annotation(cast.reviewer, state="submitted")
        theirs = make_annotation(cast.annotator, state="submitted")
        body = client_for(cast.reviewer).get(f"/api/v1/projects/{cast.project.pk}/review/next/").json()
        assert body["annotation"]["id"] == theirs.pk
        assert body["remaining"] == 1

    def test_it_can_be_limited_to_one_area(self, cast, image, make_annotation, client_for):
        from annotator.workflow import comments

        make_annotation(cast.annotator, state="submitted", geometry=square(CENTRE[0] - 0.008, CENTRE[1]))
        inside = make_annotation(cast.annotator, state="submitted")
        area = comments.save_area(cast.project, image_id=image.pk, geometry=square(*CENTRE, half=0.002), assignee="")
        body = client_for(cast.owner).get(f"/api/v1/projects/{cast.project.pk}/review/next/", {"area": area.pk}).json()
        assert body["annotation"]["id"] == inside.pk
        assert body["remaining"] == 1

    def test_an_empty_queue_says_so(self, cast, client_for):
        body = client_for(cast.reviewer).get(f"/api/v1/projects/{cast.project.pk}/review/next/").json()
        assert body == {"annotation": None, "neighbours": {"type": "FeatureCollection", "features": []}, "remaining": 0}
