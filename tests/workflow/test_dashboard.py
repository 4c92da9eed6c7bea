"""Dashboards API: the figures, and a query count that does not grow with the data."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import shapely
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.workflow import CENTRE, bulk_annotations, make_image, square

DASHBOARD_QUERIES = 12  # session, user, project, membership, areas + seven aggregates


def add_review_events(project) -> int:
    """Version rows for the reviews that bulk annotations skipped: a submission for each
    submitted, approved or rejected one, then the decision on it. Returns how many."""
    from annotator.models import Annotation, AnnotationVersion

    rows = []
    for a in Annotation.objects.filter(project=project, state__in=["submitted", "approved", "rejected"]):
        steps = ["submitted"] if a.state == "submitted" else ["submitted", a.state]
        for version, action in enumerate(steps, start=2):
            rows.append(
                AnnotationVersion(
                    annotation=a, version=version, action=action, user=a.author, geometry=a.geometry, state=action
                )
            )
    AnnotationVersion.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    return len(rows)


def dashboard(client, cast, **params) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/projects/{cast.project.pk}/dashboard/", params)
    assert response.status_code == 200, response.content
    return len(queries), response.json()


@pytest.fixture
def reviewed_project(cast, image, building, make_annotation):
    """Two approved and one rejected by the annotator, one draft by the reviewer, one deleted."""
    from annotator.models import AnnotationVersion
    from annotator.workflow import annotations

    approved = [
        make_annotation(cast.annotator, "approved", square(CENTRE[0] + dx, CENTRE[1]), reviewer=cast.reviewer)
        for dx in (-0.003, 0.003)
    ]
    rejected = make_annotation(cast.annotator, "rejected", square(CENTRE[0], CENTRE[1] + 0.003), reviewer=cast.owner)
    draft = annotations.create_annotation(
        image, cast.reviewer, square(*CENTRE), label_class_id=building.pk, attributes={"roof": "flat"}
    )
    gone = make_annotation(cast.annotator)
    annotations.delete_annotation(gone.pk, cast.annotator)
    now = timezone.now()
    # the review events: submitted 10, 30 and 20 minutes before the decisions
    for annotation, minutes in zip([*approved, rejected], (10, 30, 20), strict=True):
        events = AnnotationVersion.objects.filter(annotation=annotation)
        events.filter(action="submitted").update(created_at=now - dt.timedelta(minutes=minutes))
        events.filter(action__in=["approved", "rejected"]).update(created_at=now)
    return {"approved": approved, "rejected": rejected, "draft": draft}


def test_it_counts_by_state_class_and_annotator(cast, reviewed_project, client_for):
    _, body = dashboard(client_for(cast.viewer), cast)
    assert body["total"] == 4
    assert body["by_state"] == {"draft": 1, "submitted": 0, "approved": 2, "rejected": 1}
    assert body["area_m2"] == pytest.approx(sum(body["area_m2_by_state"].values()))
    assert {c["name"]: c["count"] for c in body["by_class"]} == {"building": 1, None: 3}
    annotator = next(row for row in body["by_annotator"] if row["username"] == "annotator")
    assert annotator["created"] == 3
    assert annotator["submitted"] == 3
    assert (annotator["approved"], annotator["rejected"], annotator["pending_review"]) == (2, 1, 0)
    assert annotator["first_pass_approval_rate"] == pytest.approx(2 / 3)
    assert annotator["median_review_s"] == pytest.approx(20 * 60, abs=1)
    reviewer = next(row for row in body["by_annotator"] if row["username"] == "reviewer")
    assert (reviewer["created"], reviewer["first_pass_approval_rate"], reviewer["median_review_s"]) == (1, None, None)


def test_it_reports_throughput_per_day(cast, reviewed_project, client_for):
    _, body = dashboard(client_for(cast.viewer), cast, days=7)
    today = timezone.now().astimezone(dt.UTC).date().isoformat()
    assert body["throughput"] == [
        {"day": today, "created": 5, "submitted": 3, "approved": 2, "rejected": 1, "reviews": 3}
    ]


def test_it_reports_progress_per_image_and_per_area(cast, image, reviewed_project, client_for):
    from annotator.workflow import comments

    empty_image = make_image(cast.project, "empty.tif")
    # the area is the square around the west approved annotation, twice as wide: half covered
    west = reviewed_project["approved"][0].geometry
    minx, miny, maxx, maxy = west.extent
    area_box = shapely.box(minx, miny, maxx + (maxx - minx), maxy)
    area = comments.save_area(
        cast.project, image_id=image.pk, geometry=shapely.geometry.mapping(area_box), assignee="annotator"
    )
    _, body = dashboard(client_for(cast.viewer), cast)
    images = {row["image"]: row for row in body["images"]}
    assert images[image.pk]["by_state"] == {"draft": 1, "submitted": 0, "approved": 2, "rejected": 1}
    assert images[empty_image.pk]["count"] == 0
    (row,) = body["areas"]
    assert (row["area"], row["assignee"], row["count"]) == (area.pk, "annotator", 1)
    assert row["completion"] == pytest.approx(0.5, abs=1e-3)
    listed = client_for(cast.annotator).get(f"/api/v1/projects/{cast.project.pk}/areas/").json()
    assert listed["features"][0]["properties"]["progress"]["completion"] == pytest.approx(0.5, abs=1e-3)


def test_a_bad_days_parameter_is_refused(cast, client_for):
    response = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/dashboard/", {"days": "forever"})
    assert response.status_code == 400


def test_the_dashboard_costs_the_same_queries_for_5_or_5000_annotations(
    cast,
    image,
    building,
    client_for,
):
    from annotator.workflow import comments

    client = client_for(cast.viewer)
    bulk_annotations(cast, image, building, 5)
    comments.save_area(cast.project, image_id=image.pk, geometry=square(*CENTRE, half=0.002), assignee="annotator")
    few, small = dashboard(client, cast)
    assert small["total"] == 5

    second = make_image(cast.project, "second.tif")
    bulk_annotations(cast, image, building, 4995, seed=9)
    add_review_events(cast.project)
    for i in range(5):
        comments.save_area(
            cast.project, image_id=second.pk, geometry=square(*CENTRE, half=0.001 * (i + 1)), assignee=""
        )
    started = time.perf_counter()
    many, large = dashboard(client, cast)
    elapsed = time.perf_counter() - started

    assert large["total"] == 5000
    # each rejected one was rejected once, by add_review_events
    assert large["review"]["rejections"] == large["by_state"]["rejected"] > 1000
    print(f"dashboard on 5,000 annotations and their review events: {elapsed:.3f} s, {many} queries")
    assert len(large["areas"]) == 6
    assert many == few <= DASHBOARD_QUERIES
    assert elapsed < 5, f"the dashboard took {elapsed:.2f} s on 5,000 annotations"
