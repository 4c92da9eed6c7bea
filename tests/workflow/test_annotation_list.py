"""The annotate page's list through the API: "mine", "has open comments", counts per state."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.workflow import CENTRE, bulk_annotations, make_image, square


def url(cast, suffix: str = "") -> str:
    return f"/api/v1/projects/{cast.project.pk}/annotations/{suffix}"


@pytest.fixture
def spread(cast, image, make_annotation):
    """Annotations of three people in every state, one on a second image (EPSG:4326 squares)."""

    def at(i: int) -> dict:
        return square(CENTRE[0] - 0.008 + 0.002 * i, CENTRE[1])

    class Spread:
        mine_draft = make_annotation(cast.annotator, geometry=at(0))
        mine_submitted = make_annotation(cast.annotator, state="submitted", geometry=at(1))
        mine_rejected = make_annotation(cast.annotator, state="rejected", reviewer=cast.reviewer, geometry=at(2))
        theirs_approved = make_annotation(cast.reviewer, state="approved", reviewer=cast.owner, geometry=at(3))
        theirs_draft = make_annotation(cast.owner, geometry=at(4))
        second_image = make_image(cast.project, "second.tif")
        on_second_image = make_annotation(cast.annotator, on=second_image)

    return Spread


def ids(client, cast, **params) -> list[int]:
    response = client.get(url(cast), params)
    assert response.status_code == 200, response.content
    return [f["id"] for f in response.json()["features"]]


class TestMine:
    def test_mine_lists_only_the_callers_own_annotations_in_every_image(self, cast, spread, client_for):
        mine = ids(client_for(cast.annotator), cast, mine="true")
        assert mine == [
            spread.mine_draft.pk,
            spread.mine_submitted.pk,
            spread.mine_rejected.pk,
            spread.on_second_image.pk,
        ]

    def test_mine_combines_with_the_image_and_state_filters(self, cast, image, spread, client_for):
        client = client_for(cast.annotator)
        assert ids(client, cast, mine="true", image=image.pk, state="rejected") == [spread.mine_rejected.pk]

    def test_mine_false_does_not_filter(self, cast, spread, client_for):
        assert len(ids(client_for(cast.annotator), cast, mine="false")) == 6


class TestOpenComments:
    def test_it_lists_annotations_with_an_unresolved_thread_once_each(self, cast, spread, client_for):
        from annotator.workflow import comments

        comments.open_thread(cast.project, cast.reviewer, "Roof edge?", annotation_id=spread.mine_draft.pk)
        comments.open_thread(cast.project, cast.owner, "And the shed.", annotation_id=spread.mine_draft.pk)
        resolved = comments.open_thread(cast.project, cast.reviewer, "Fine now.", annotation_id=spread.theirs_draft.pk)
        comments.set_resolved(resolved, cast.reviewer, True)
        client = client_for(cast.viewer)

        # A rejection's reason is a thread too: it stays open until someone resolves it.
        assert ids(client, cast, has_open_comments="true") == [spread.mine_draft.pk, spread.mine_rejected.pk]
        without = ids(client, cast, has_open_comments="false")
        assert spread.theirs_draft.pk in without
        assert len(without) == 4

    def test_a_reopened_thread_counts_as_open_again(self, cast, spread, client_for):
        from annotator.workflow import comments

        thread = comments.open_thread(cast.project, cast.reviewer, "Check", annotation_id=spread.theirs_draft.pk)
        comments.set_resolved(thread, cast.reviewer, True)
        client = client_for(cast.viewer)
        assert spread.theirs_draft.pk not in ids(client, cast, has_open_comments="true")
        comments.set_resolved(thread, cast.reviewer, False)
        assert spread.theirs_draft.pk in ids(client, cast, has_open_comments="true")

    def test_a_thread_pinned_to_a_point_marks_no_annotation(self, cast, image, spread, client_for):
        from annotator.workflow import comments

        point = {"type": "Point", "coordinates": list(CENTRE)}
        comments.open_thread(cast.project, cast.reviewer, "Missed a barn here", image_id=image.pk, point=point)
        assert ids(client_for(cast.viewer), cast, has_open_comments="true") == [spread.mine_rejected.pk]

    def test_the_filters_add_no_query(self, cast, image, building, client_for):
        client = client_for(cast.annotator)
        bulk_annotations(cast, image, building, 200)

        def queries(**params) -> int:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url(cast), params).status_code == 200
            return len(captured)

        # "false" and "mine": a non-empty page, so both lists run their count and page queries.
        assert queries(has_open_comments="false", mine="true") == queries()


class TestCounts:
    def test_it_counts_each_state_under_the_other_filters(self, cast, image, spread, client_for):
        client = client_for(cast.viewer)
        body = client.get(url(cast, "counts/"), {"image": image.pk}).json()
        assert body == {"counts": {"draft": 2, "submitted": 1, "approved": 1, "rejected": 1}, "total": 5}

        mine = client_for(cast.annotator).get(url(cast, "counts/"), {"mine": "true"}).json()
        assert mine == {"counts": {"draft": 2, "submitted": 1, "approved": 0, "rejected": 1}, "total": 4}

    def test_the_state_filter_does_not_change_the_counts(self, cast, spread, client_for):
        client = client_for(cast.viewer)
        every = client.get(url(cast, "counts/")).json()
        only_drafts = client.get(url(cast, "counts/"), {"state": "draft"}).json()
        assert only_drafts == every
        assert every["counts"]["draft"] == len(ids(client, cast, state="draft")) == 3

    def test_it_counts_with_open_comments_and_a_class(self, cast, image, building, spread, client_for):
        from annotator.workflow import annotations, comments

        labelled = annotations.create_annotation(
            image, cast.owner, square(*CENTRE), label_class_id=building.pk, attributes={"roof": "flat"}
        )
        comments.open_thread(cast.project, cast.reviewer, "Which roof?", annotation_id=labelled.pk)
        body = (
            client_for(cast.viewer)
            .get(url(cast, "counts/"), {"label_class": building.pk, "has_open_comments": "true"})
            .json()
        )
        assert body == {"counts": {"draft": 1, "submitted": 0, "approved": 0, "rejected": 0}, "total": 1}

    def test_counting_5000_annotations_is_one_query(self, cast, image, building, client_for):
        client = client_for(cast.viewer)
        bulk_annotations(cast, image, building, 5000)
        with CaptureQueriesContext(connection) as captured:
            body = client.get(url(cast, "counts/"), {"image": image.pk}).json()
        assert body["total"] == 5000
        assert body["counts"] == {"draft": 1250, "submitted": 1250, "approved": 1250, "rejected": 1250}
        counting = [q["sql"] for q in captured if "annotator_annotation" in q["sql"]]
        assert len(counting) == 1

    def test_a_stranger_gets_404_and_a_bad_filter_400(self, cast, client_for):
        assert client_for(cast.stranger).get(url(cast, "counts/")).status_code == 404
        bad = client_for(cast.viewer).get(url(cast, "counts/"), {"state": "lost"})
        assert bad.status_code == 400
        assert bad.json()["code"]
