"""``allowed_actions``: what the API says each persona may do with an annotation, and whether
the API then lets them do it.

Every action listed for a caller succeeds through the API; every action left out is
refused (403, or 409 with the reason's code) and changes nothing. The table below is
written out by hand, not derived from :mod:`annotator.access`, so that it checks it.
"""

from __future__ import annotations

import pytest

from tests.support.workflow import CENTRE, square

STATES = ["draft", "submitted", "approved", "rejected"]
PERSONAS = ["owner", "reviewer", "annotator", "viewer"]
ACTIONS = ["approve", "comment", "delete", "edit", "reject", "submit"]

# What reviewers and owners may do with someone else's annotation, by state.
REVIEWING = {
    "draft": ["comment", "delete", "edit", "submit"],
    "submitted": ["approve", "comment", "delete", "edit", "reject"],
    "approved": ["comment", "delete", "edit"],
    "rejected": ["comment", "delete", "edit"],
}
# What an annotator may do with their own annotation: submitted and approved are locked.
AUTHORING = {
    "draft": ["comment", "delete", "edit", "submit"],
    "submitted": ["comment"],
    "approved": ["comment"],
    "rejected": ["comment", "delete", "edit"],
}


def expected_actions(persona: str, author: str, state: str) -> list[str]:
    """The hand-written table: persona x author of the annotation x state -> allowed actions."""
    if persona == "viewer":
        return []
    if persona == "annotator":
        return AUTHORING[state] if author == "annotator" else ["comment"]
    if persona == author and state == "submitted":
        return ["comment", "delete", "edit", "reject"]  # nobody approves their own work by default
    return REVIEWING[state]


@pytest.fixture
def annotation_in(cast, make_annotation):
    """A factory: an annotation by ``author`` (a persona's name) in ``state``, reviewed by the owner."""

    def make(author: str, state: str):
        return make_annotation(getattr(cast, author), state=state, reviewer=cast.owner)

    return make


def take(client, cast, action: str, annotation):
    """Take ``action`` on the annotation through the API as the client's user."""
    url = f"/api/v1/annotations/{annotation.pk}/"
    if action == "edit":
        body = {"version": annotation.version, "geometry": square(*CENTRE, half=0.0007)}
        return client.patch(url, body, format="json")
    if action == "delete":
        return client.delete(url, HTTP_IF_MATCH=f'"{annotation.version}"')
    if action == "comment":
        body = {"body": "Is the shed part of it?", "annotation": annotation.pk}
        return client.post(f"/api/v1/projects/{cast.project.pk}/comments/", body, format="json")
    body = {"version": annotation.version, "comment": "The outline misses the porch."}
    return client.post(f"{url}{action}/", body, format="json")


SUCCESS = {"edit": 200, "delete": 204, "comment": 201, "submit": 200, "approve": 200, "reject": 200}


@pytest.mark.parametrize("author", ["annotator", "reviewer"])
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_list_and_detail_tell_each_persona_what_they_may_do(cast, annotation_in, client_for, persona, state, author):
    annotation = annotation_in(author, state)
    client = client_for(getattr(cast, persona))
    listed = client.get(f"/api/v1/projects/{cast.project.pk}/annotations/").json()["features"]
    detail = client.get(f"/api/v1/annotations/{annotation.pk}/").json()
    expected = expected_actions(persona, author, state)
    assert [f["properties"]["allowed_actions"] for f in listed] == [expected]
    assert detail["properties"]["allowed_actions"] == expected


@pytest.mark.parametrize("author", ["annotator", "reviewer"])
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_allowed_action_succeeds_and_each_other_one_is_refused(
    cast,
    annotation_in,
    client_for,
    persona,
    state,
    author,
):
    from annotator.models import Annotation, CommentThread

    client = client_for(getattr(cast, persona))
    for action in ACTIONS:
        annotation = annotation_in(author, state)
        allowed = client.get(f"/api/v1/annotations/{annotation.pk}/").json()["properties"]["allowed_actions"]
        threads_before = CommentThread.objects.filter(annotation=annotation).count()
        response = take(client, cast, action, annotation)
        if action in allowed:
            assert response.status_code == SUCCESS[action], (action, response.content)
        else:
            body = response.json()
            assert (response.status_code, body["code"]) in {
                (403, "forbidden"),
                (409, "locked_for_review"),
                (409, "invalid_transition"),
            }, (action, response.content)
            after = Annotation.objects.get(pk=annotation.pk)
            assert (after.version, after.state, after.deleted_at) == (annotation.version, state, None)
            assert CommentThread.objects.filter(annotation=annotation).count() == threads_before


def test_an_author_is_told_their_submitted_annotation_is_locked_for_review(cast, annotation_in, client_for):
    annotation = annotation_in("annotator", "submitted")
    response = take(client_for(cast.annotator), cast, "edit", annotation)
    assert response.status_code == 409
    assert response.json()["code"] == "locked_for_review"
    assert "locked for review" in response.json()["detail"]


def test_the_actions_follow_the_annotation_through_its_review(cast, annotation_in, client_for):
    annotation = annotation_in("annotator", "draft")
    mine, theirs = client_for(cast.annotator), client_for(cast.reviewer)
    submitted = mine.post(f"/api/v1/annotations/{annotation.pk}/submit/", {}, format="json").json()
    assert submitted["properties"]["allowed_actions"] == ["comment"]
    rejected = theirs.post(f"/api/v1/annotations/{annotation.pk}/reject/", {"comment": "Too loose."}, format="json")
    assert rejected.json()["properties"]["allowed_actions"] == ["comment", "delete", "edit"]
    assert mine.get(f"/api/v1/annotations/{annotation.pk}/").json()["properties"]["allowed_actions"] == [
        "comment",
        "delete",
        "edit",
    ]


def test_a_project_that_allows_self_approval_offers_approve_on_ones_own_work(cast, annotation_in, client_for):
    cast.project.allow_self_approval = True
    cast.project.save()
    annotation = annotation_in("reviewer", "submitted")
    client = client_for(cast.reviewer)
    allowed = client.get(f"/api/v1/annotations/{annotation.pk}/").json()["properties"]["allowed_actions"]
    assert allowed == REVIEWING["submitted"]
    assert take(client, cast, "approve", annotation).status_code == 200


def test_the_review_queue_sends_the_reviewers_actions(cast, annotation_in, client_for):
    annotation_in("annotator", "submitted")
    annotation_in("annotator", "draft")
    body = client_for(cast.reviewer).get(f"/api/v1/projects/{cast.project.pk}/review/next/").json()
    assert body["annotation"]["properties"]["allowed_actions"] == REVIEWING["submitted"]
    assert [f["properties"]["allowed_actions"] for f in body["neighbours"]["features"]] == [REVIEWING["draft"]]


def test_a_created_annotation_comes_back_with_its_authors_actions(cast, image, client_for):
    response = client_for(cast.annotator).post(
        f"/api/v1/projects/{cast.project.pk}/annotations/",
        {"image": image.pk, "geometry": square(*CENTRE)},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["properties"]["allowed_actions"] == AUTHORING["draft"]
