"""The review queue as a filtered list, and bulk approval recorded one review event per annotation."""

from __future__ import annotations

import pytest

from tests.support.workflow import CENTRE, make_image, square


@pytest.fixture
def road(cast):
    from annotator.models import LabelClass

    return LabelClass.objects.create(project=cast.project, name="road")


@pytest.fixture
def submitted(cast, image, road):
    """A factory: a submitted annotation by ``author``, labelled ``road`` unless told, ``dx`` degrees east."""
    from annotator.workflow import annotations, review

    def make(author, dx: float = 0.0, label_class=None, on=None):
        annotation = annotations.create_annotation(
            on or image,
            author,
            square(CENTRE[0] + dx, CENTRE[1]),
            label_class_id=(label_class or road).pk,
            attributes={"roof": "flat"} if label_class is not None and label_class.name == "building" else None,
        )
        return review.transition(annotation.pk, "submit", author)

    return make


def queue(client, cast, **params) -> list[int]:
    response = client.get(f"/api/v1/projects/{cast.project.pk}/review/queue/", params)
    assert response.status_code == 200, response.content
    return [feature["id"] for feature in response.json()["features"]]


def bulk_approve(client, cast, items: list[dict]):
    return client.post(
        f"/api/v1/projects/{cast.project.pk}/review/bulk-approve/", {"annotations": items}, format="json"
    )


def test_the_queue_lists_what_the_reviewer_may_review_filtered_by_image_author_class_and_area(
    cast, image, building, submitted, client_for
):
    from annotator.workflow import comments

    other_image = make_image(cast.project, "second.tif")
    by_annotator = submitted(cast.annotator, -0.003)
    building_by_annotator = submitted(cast.annotator, 0.003, label_class=building)
    by_owner = submitted(cast.owner, 0.006)
    on_other_image = submitted(cast.annotator, on=other_image)
    own = submitted(cast.reviewer, 0.0)
    area = comments.save_area(cast.project, image_id=image.pk, geometry=square(CENTRE[0] - 0.003, CENTRE[1]))

    client = client_for(cast.reviewer)
    everything = queue(client, cast)
    assert set(everything) == {by_annotator.pk, building_by_annotator.pk, by_owner.pk, on_other_image.pk}
    assert own.pk not in everything  # nobody reviews their own work here
    assert set(queue(client, cast, image=image.pk)) == {by_annotator.pk, building_by_annotator.pk, by_owner.pk}
    assert set(queue(client, cast, author="owner")) == {by_owner.pk}
    assert queue(client, cast, label_class=building.pk) == [building_by_annotator.pk]
    assert queue(client, cast, area=area.pk) == [by_annotator.pk]
    assert queue(client, cast, author="annotator", image=other_image.pk) == [on_other_image.pk]
    feature = client.get(f"/api/v1/projects/{cast.project.pk}/review/queue/", {"label_class": building.pk}).json()
    assert "approve" in feature["features"][0]["properties"]["allowed_actions"]


def test_the_queue_is_for_reviewers_only(cast, client_for):
    response = client_for(cast.annotator).get(f"/api/v1/projects/{cast.project.pk}/review/queue/")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_next_follows_the_author_and_class_filters(cast, building, submitted, client_for):
    submitted(cast.annotator, -0.003)
    wanted = submitted(cast.owner, 0.003, label_class=building)
    response = client_for(cast.reviewer).get(
        f"/api/v1/projects/{cast.project.pk}/review/next/", {"author": "owner", "label_class": building.pk}
    )
    assert response.json()["annotation"]["id"] == wanted.pk
    assert response.json()["remaining"] == 1


def test_bulk_approve_records_one_review_event_per_annotation(cast, submitted, client_for):
    from annotator.models import AnnotationVersion

    first, second = submitted(cast.annotator, -0.003), submitted(cast.owner, 0.003)
    response = bulk_approve(
        client_for(cast.reviewer), cast, [{"id": first.pk, "version": first.version}, {"id": second.pk}]
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["refused"] == []
    assert sorted(f["id"] for f in body["approved"]) == sorted([first.pk, second.pk])
    assert {f["properties"]["state"] for f in body["approved"]} == {"approved"}
    for annotation in (first, second):
        events = AnnotationVersion.objects.filter(annotation=annotation, action="approved")
        (event,) = events  # exactly one, like a single approval
        assert (event.user, event.version, event.state) == (cast.reviewer, annotation.version + 1, "approved")

    figures = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/dashboard/").json()
    assert (figures["review"]["approvals"], figures["review"]["first_pass_approval_rate"]) == (2, 1)


def test_bulk_approve_refuses_what_the_reviewer_may_not_approve_and_approves_the_rest(
    cast, submitted, make_annotation, client_for
):
    from annotator.models import Annotation, AnnotationVersion, LabelClass
    from annotator.workflow import annotations, review

    fine = submitted(cast.annotator, -0.003)
    own = submitted(cast.reviewer, 0.003)
    draft = make_annotation(cast.annotator, "draft", square(CENTRE[0] + 0.006, CENTRE[1]))
    stale = submitted(cast.owner, 0.009)
    elsewhere = make_image(cast.other_project, "theirs.tif")
    theirs = LabelClass.objects.create(project=cast.other_project, name="road")
    foreign = annotations.create_annotation(elsewhere, cast.stranger, square(*CENTRE), label_class_id=theirs.pk)
    foreign = review.transition(foreign.pk, "submit", cast.stranger)

    response = bulk_approve(
        client_for(cast.reviewer),
        cast,
        [
            {"id": fine.pk},
            {"id": own.pk},
            {"id": draft.pk},
            {"id": stale.pk, "version": stale.version - 1},
            {"id": foreign.pk},
        ],
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [f["id"] for f in body["approved"]] == [fine.pk]
    refused = {r["id"]: r["code"] for r in body["refused"]}
    assert refused == {
        own.pk: "forbidden",
        draft.pk: "invalid_transition",
        stale.pk: "stale_version",
        foreign.pk: "not_found",
    }
    assert all(r["detail"] for r in body["refused"])
    for annotation in (own, draft, stale, foreign):
        assert Annotation.objects.get(pk=annotation.pk).state == annotation.state
        assert not AnnotationVersion.objects.filter(annotation=annotation, action="approved").exists()


def test_bulk_approve_is_for_reviewers_and_takes_a_bounded_list_without_repeats(cast, submitted, client_for):
    from annotator.workflow.review import MAX_BULK_ITEMS

    one = submitted(cast.annotator)
    refused = bulk_approve(client_for(cast.annotator), cast, [{"id": one.pk}])
    assert refused.status_code == 403
    reviewer = client_for(cast.reviewer)
    for items in ([], [{"id": one.pk}, {"id": one.pk}], [{"id": i} for i in range(1, MAX_BULK_ITEMS + 2)]):
        response = bulk_approve(reviewer, cast, items)
        assert response.status_code == 400, items[:3]
        assert response.json()["field"] == "annotations"


def test_the_queue_costs_the_same_queries_for_a_few_or_many_waiting(cast, image, building, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotator.models import Annotation
    from tests.support.workflow import bulk_annotations

    client = client_for(cast.reviewer)

    def count_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/projects/{cast.project.pk}/review/queue/", {"label_class": building.pk})
        assert response.status_code == 200
        return len(queries), response.json()["count"]

    def waiting() -> int:  # submitted, of the class, not the reviewer's own
        submitted = Annotation.objects.filter(state="submitted", label_class=building)
        return submitted.exclude(author=cast.reviewer).count()

    bulk_annotations(cast, image, building, 12)
    few, small = count_queries()
    assert small == waiting()
    bulk_annotations(cast, image, building, 228, seed=9)
    many, large = count_queries()
    assert large == waiting() > 30
    assert many == few
