"""Review history: the dashboard counts review events, so a rejection is never forgotten."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.support.workflow import CENTRE, square

# yesterday 09:00 UTC: a scripted history stays within one UTC day
START = (timezone.now() - dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)


@pytest.fixture
def road(cast):
    from annotator.models import LabelClass

    return LabelClass.objects.create(project=cast.project, name="road")


@pytest.fixture
def script(image, road):
    """Plays a review history: ``(step, user, minutes after START)`` for one annotation.

    Steps are ``submit``, ``approve``, ``reject`` (through the review service) and ``edit``
    (a geometry change by the user); each event row is then dated at its minute. The
    annotation is labelled ``road`` unless another class is given.
    """
    from annotator.models import AnnotationVersion
    from annotator.workflow import annotations, review

    def play(author, steps, *, label_class=None, dx: float = 0.0):
        label_class = label_class or road
        annotation = annotations.create_annotation(
            image,
            author,
            square(CENTRE[0] + dx, CENTRE[1]),
            label_class_id=label_class.pk,
            attributes={"roof": "flat"} if label_class.name == "building" else None,
        )
        for step, user, minute in steps:
            if step == "edit":
                annotation = annotations.update_annotation(
                    annotation.pk,
                    user,
                    expected_version=annotation.version,
                    geometry=square(CENTRE[0] + dx, CENTRE[1], half=0.0004),
                )
            else:
                comment = "The outline misses the garage." if step == "reject" else ""
                annotation = review.transition(annotation.pk, step, user, comment=comment)
            AnnotationVersion.objects.filter(annotation=annotation, version=annotation.version).update(
                created_at=START + dt.timedelta(minutes=minute)
            )
        return annotation

    return play


def figures(client, cast) -> dict:
    response = client.get(f"/api/v1/projects/{cast.project.pk}/dashboard/")
    assert response.status_code == 200, response.content
    return response.json()


def row_of(rows: list[dict], key: str, value) -> dict:
    return next(row for row in rows if row[key] == value)


def test_a_rejection_fixed_and_approved_still_counts_one_rejection_and_no_first_pass_approval(
    cast, building, script, client_for
):
    annotation = script(
        cast.annotator,
        [
            ("submit", cast.annotator, 0),
            ("reject", cast.reviewer, 10),
            ("edit", cast.annotator, 15),
            ("submit", cast.annotator, 20),
            ("approve", cast.reviewer, 50),
        ],
        label_class=building,
    )
    assert annotation.state == "approved"

    body = figures(client_for(cast.viewer), cast)
    annotator = row_of(body["by_annotator"], "username", "annotator")
    assert (annotator["approved"], annotator["rejected"]) == (1, 0)  # the states now
    assert annotator["rejections"] == 1
    assert annotator["approvals"] == 1
    assert annotator["submissions"] == 2
    assert annotator["reviewed"] == 1
    assert annotator["first_pass_approval_rate"] == 0
    assert annotator["resubmissions"] == 1
    building_row = row_of(body["by_class"], "name", "building")
    assert (building_row["rejections"], building_row["first_pass_approval_rate"], building_row["resubmissions"]) == (
        1,
        0,
        1,
    )
    assert body["review"]["rejections"] == 1
    assert body["review"]["first_pass_approval_rate"] == 0


def test_first_pass_approval_rate_is_the_share_approved_at_their_first_review(cast, building, script, client_for):
    script(cast.annotator, [("submit", cast.annotator, 0), ("approve", cast.reviewer, 5)], dx=-0.003)
    script(cast.annotator, [("submit", cast.annotator, 0), ("approve", cast.owner, 5)], dx=0.003, label_class=building)
    script(
        cast.annotator,
        [("submit", cast.annotator, 0), ("reject", cast.reviewer, 5), ("edit", cast.annotator, 6)],
        label_class=building,
    )
    script(cast.annotator, [("submit", cast.annotator, 0)], dx=0.006)  # not reviewed yet: left out

    body = figures(client_for(cast.viewer), cast)
    annotator = row_of(body["by_annotator"], "username", "annotator")
    assert (annotator["reviewed"], annotator["first_pass_approved"]) == (3, 2)
    assert annotator["first_pass_approval_rate"] == pytest.approx(2 / 3)
    assert annotator["resubmissions"] == 0  # the rejected one is fixed but not submitted again
    assert row_of(body["by_class"], "name", "building")["first_pass_approval_rate"] == pytest.approx(1 / 2)
    assert row_of(body["by_class"], "name", "road")["first_pass_approval_rate"] == 1


def test_the_median_review_time_runs_from_each_submission_to_its_decision(cast, script, client_for):
    # decisions 10 and 30 minutes after their submissions, then one after 60 minutes
    script(
        cast.annotator,
        [
            ("submit", cast.annotator, 0),
            ("reject", cast.reviewer, 10),
            ("edit", cast.annotator, 12),
            ("submit", cast.annotator, 20),
            ("approve", cast.reviewer, 50),
        ],
    )
    script(cast.reviewer, [("submit", cast.reviewer, 100), ("approve", cast.owner, 160)], dx=0.003)

    body = figures(client_for(cast.viewer), cast)
    assert row_of(body["by_annotator"], "username", "annotator")["median_review_s"] == pytest.approx(20 * 60)
    assert row_of(body["by_annotator"], "username", "reviewer")["median_review_s"] == pytest.approx(60 * 60)
    assert body["review"]["median_review_s"] == pytest.approx(30 * 60)


def test_throughput_counts_submissions_and_reviews_per_day(cast, script, client_for):
    script(cast.annotator, [("submit", cast.annotator, 0), ("reject", cast.reviewer, 10)])
    script(cast.annotator, [("submit", cast.annotator, 0), ("approve", cast.reviewer, 10)], dx=0.003)

    body = figures(client_for(cast.viewer), cast)
    day = START.astimezone(dt.UTC).date().isoformat()
    row = row_of(body["throughput"], "day", day)
    assert (row["submitted"], row["approved"], row["rejected"], row["reviews"]) == (2, 1, 1, 2)


def test_the_history_outlives_a_deleted_annotation(cast, script, client_for):
    from annotator.workflow import annotations

    rejected = script(cast.annotator, [("submit", cast.annotator, 0), ("reject", cast.reviewer, 10)])
    annotations.delete_annotation(rejected.pk, cast.annotator)

    body = figures(client_for(cast.viewer), cast)
    annotator = row_of(body["by_annotator"], "username", "annotator")
    assert (annotator["created"], annotator["rejections"], annotator["first_pass_approval_rate"]) == (0, 1, 0)
