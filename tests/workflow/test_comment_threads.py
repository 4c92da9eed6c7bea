"""Comment threads as the annotate page reads them: where each is pinned, and what the API
says each persona may do with it (``allowed_actions``), checked against what it then lets
them do. The table is written out by hand, not derived from :mod:`annotator.access`."""

from __future__ import annotations

import pytest
from shapely.geometry import Point, shape

from tests.support.workflow import CENTRE, square

PERSONAS = ["owner", "reviewer", "annotator", "viewer"]

# Actions on a reviewer's thread (the reviewer rejected the annotator's work), open / resolved.
ON_REVIEWERS_THREAD = {
    "owner": (["reply", "resolve"], ["reopen", "reply"]),
    "reviewer": (["reply", "resolve"], ["reopen", "reply"]),
    "annotator": (["reply"], ["reply"]),
    "viewer": ([], []),
}


@pytest.fixture
def rejected(cast, make_annotation):
    """The annotator's annotation, rejected by the reviewer: one thread with the reason."""
    return make_annotation(cast.annotator, state="rejected", reviewer=cast.reviewer)


def threads_of(client, cast, **params) -> list[dict]:
    response = client.get(f"/api/v1/projects/{cast.project.pk}/comments/", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_is_told_what_they_may_do_with_a_reviewers_thread_and_may_do_just_that(
    persona, cast, client_for, rejected
):
    from annotator.models import ReviewComment

    client = client_for(getattr(cast, persona))
    url = f"/api/v1/projects/{cast.project.pk}/comments/"
    for resolved, expected in zip((False, True), ON_REVIEWERS_THREAD[persona], strict=True):
        (thread,) = threads_of(client, cast, annotation=rejected.pk)
        assert thread["resolved"] is resolved
        assert thread["allowed_actions"] == expected
        before = ReviewComment.objects.count()
        reply = client.post(f"{url}{thread['id']}/reply/", {"body": "Fixed the east edge."}, format="json")
        assert reply.status_code == (201 if "reply" in expected else 403), reply.content
        assert ReviewComment.objects.count() == before + ("reply" in expected)
        change = "reopen" if resolved else "resolve"
        answer = client.post(f"{url}{thread['id']}/{change}/", {}, format="json")
        assert answer.status_code == (200 if change in expected else 403), answer.content
        if change not in expected:
            # The next round needs the thread resolved: the reviewer settles it.
            client_for(cast.reviewer).post(f"{url}{thread['id']}/{change}/", {}, format="json")


def test_an_annotator_resolves_and_reopens_a_thread_they_started(cast, client_for, rejected):
    client = client_for(cast.annotator)
    url = f"/api/v1/projects/{cast.project.pk}/comments/"
    opened = client.post(url, {"annotation": rejected.pk, "body": "Is the shed part of it?"}, format="json")
    assert opened.status_code == 201, opened.content
    assert opened.json()["allowed_actions"] == ["reply", "resolve"]
    resolved = client.post(f"{url}{opened.json()['id']}/resolve/", {}, format="json")
    assert resolved.status_code == 200 and resolved.json()["resolved"] is True
    assert resolved.json()["resolved_by"] == "annotator"
    assert resolved.json()["allowed_actions"] == ["reopen", "reply"]
    reopened = client.post(f"{url}{opened.json()['id']}/reopen/", {}, format="json")
    assert reopened.status_code == 200 and reopened.json()["resolved"] is False
    assert reopened.json()["resolved_by"] is None


def test_a_thread_on_an_annotation_is_anchored_inside_its_polygon_and_a_point_thread_at_its_point(
    cast, client_for, rejected, image
):
    client = client_for(cast.reviewer)
    url = f"/api/v1/projects/{cast.project.pk}/comments/"
    lon, lat = CENTRE[0] + 0.003, CENTRE[1] - 0.002
    at_point = client.post(
        url,
        {"image": image.pk, "point": {"type": "Point", "coordinates": [lon, lat]}, "body": "A new barn here?"},
        format="json",
    )
    assert at_point.status_code == 201, at_point.content
    assert at_point.json()["anchor"] == {"type": "Point", "coordinates": [pytest.approx(lon), pytest.approx(lat)]}

    (on_annotation,) = threads_of(client, cast, annotation=rejected.pk)
    assert on_annotation["point"] is None
    assert shape(square(*CENTRE)).contains(Point(on_annotation["anchor"]["coordinates"]))
    # The image's threads come newest first, each with its comments oldest first.
    assert [t["id"] for t in threads_of(client, cast, image=image.pk)] == [at_point.json()["id"], on_annotation["id"]]
    assert [c["author"] for c in on_annotation["comments"]] == ["reviewer"]


def test_the_threads_of_a_deleted_annotation_are_left_out_when_asking_for_live_ones(cast, client_for, rejected, image):
    from annotator.workflow import annotations

    annotations.delete_annotation(rejected.pk, cast.annotator, expected_version=rejected.version)
    client = client_for(cast.annotator)
    assert len(threads_of(client, cast, image=image.pk)) == 1
    assert threads_of(client, cast, image=image.pk, live="true") == []


def test_listing_forty_threads_costs_as_many_queries_as_listing_one(cast, client_for, make_annotation, image):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotator.workflow import comments

    def count_queries() -> tuple[int, list[dict]]:
        with CaptureQueriesContext(connection) as queries:
            threads = threads_of(client_for(cast.annotator), cast, image=image.pk, live="true", limit=1000)
        return len(queries), threads

    make_annotation(cast.annotator, state="rejected", reviewer=cast.reviewer)
    one, threads = count_queries()
    assert len(threads) == 1
    for n in range(13):
        annotation = make_annotation(cast.annotator, state="rejected", reviewer=cast.reviewer)
        comments.reply(annotation.comment_threads.get(), cast.annotator, f"Fixed ({n}).")
        comments.open_thread(cast.project, cast.owner, "Check the roof too.", annotation_id=annotation.pk)
        point = {"type": "Point", "coordinates": list(CENTRE)}
        comments.open_thread(cast.project, cast.reviewer, "What is here?", image_id=image.pk, point=point)
    forty, threads = count_queries()
    assert len(threads) == 40
    assert forty == one


def test_threads_filter_by_resolved_and_a_bad_filter_is_refused(cast, client_for, rejected, image):
    client = client_for(cast.reviewer)
    (thread,) = threads_of(client, cast, image=image.pk)
    client.post(f"/api/v1/projects/{cast.project.pk}/comments/{thread['id']}/resolve/", {}, format="json")
    assert threads_of(client, cast, resolved="false") == []
    assert [t["id"] for t in threads_of(client, cast, resolved="true")] == [thread["id"]]
    refused = client.get(f"/api/v1/projects/{cast.project.pk}/comments/", {"image": "the big one"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid"
