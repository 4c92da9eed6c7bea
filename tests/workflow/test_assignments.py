"""Assigned areas (who draws and assigns them), each member's tasks, and progress per image
and area, through the API against the real database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.workflow import CENTRE, make_image, square

AREAS = "/api/v1/projects/{}/areas/"
TASKS_QUERIES = 7  # session, user, then areas, rejected annotations, reasons, area progress (+1 spare)


def west(dx: float = 0.0) -> tuple[float, float]:
    """A point (lon, lat; EPSG:4326) west of the image's centre, ``dx`` degrees further east."""
    return (CENTRE[0] - 0.004 + dx, CENTRE[1])


def draw(client, cast, image, assignee="annotator", name="North field", geometry=None):
    body = {"image": image.pk, "geometry": geometry or square(*CENTRE, half=0.002), "assignee": assignee, "name": name}
    return client.post(AREAS.format(cast.project.pk), body, format="json")


@pytest.mark.parametrize("persona", ["owner", "reviewer"])
def test_owners_and_reviewers_draw_rename_reassign_and_delete_areas(cast, image, client_for, persona):
    from annotator.models import AssignedArea

    client = client_for(getattr(cast, persona))
    created = draw(client, cast, image)
    assert created.status_code == 201, created.content
    area = created.json()
    assert area["properties"]["assignee"] == "annotator"
    assert area["properties"]["name"] == "North field"
    assert area["properties"]["allowed_actions"] == ["delete", "edit"]
    assert area["geometry"]["type"] == "Polygon"

    url = f"{AREAS.format(cast.project.pk)}{area['id']}/"
    changed = client.patch(url, {"assignee": "reviewer", "name": "North field, east half"}, format="json")
    assert changed.status_code == 200, changed.content
    row = AssignedArea.objects.get(pk=area["id"])
    assert (row.assignee, row.name) == (cast.reviewer, "North field, east half")

    unassigned = client.patch(url, {"assignee": None}, format="json")
    assert unassigned.status_code == 200, unassigned.content
    assert AssignedArea.objects.get(pk=area["id"]).assignee is None

    assert client.delete(url).status_code == 204
    assert not AssignedArea.objects.filter(pk=area["id"]).exists()


def test_areas_of_one_image_may_overlap(cast, image, client_for):
    client = client_for(cast.owner)
    assert draw(client, cast, image, assignee="annotator").status_code == 201
    assert draw(client, cast, image, assignee="reviewer", geometry=square(*CENTRE, half=0.001)).status_code == 201
    listed = client.get(AREAS.format(cast.project.pk), {"image": image.pk}).json()
    assert sorted(f["properties"]["assignee"] for f in listed["features"]) == ["annotator", "reviewer"]


@pytest.mark.parametrize("persona", ["annotator", "viewer"])
def test_annotators_and_viewers_may_not_draw_change_or_delete_areas(cast, image, client_for, persona):
    from annotator.models import AssignedArea

    area_id = draw(client_for(cast.owner), cast, image, assignee="annotator").json()["id"]
    client = client_for(getattr(cast, persona))
    refused = draw(client, cast, image)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    url = f"{AREAS.format(cast.project.pk)}{area_id}/"
    assert client.patch(url, {"name": "mine now"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403
    assert AssignedArea.objects.get(pk=area_id).name == "North field"


def test_the_service_refuses_an_annotator_whatever_the_view(cast, image):
    from annotator.errors import PermissionDenied
    from annotator.workflow import assignments

    with pytest.raises(PermissionDenied, match="Only reviewers and owners"):
        assignments.create_area(cast.project, cast.annotator, image_id=image.pk, geometry=square(*CENTRE))


def test_strangers_do_not_find_the_areas_of_a_project(cast, image, client_for):
    area_id = draw(client_for(cast.owner), cast, image).json()["id"]
    client = client_for(cast.stranger)
    assert client.get(AREAS.format(cast.project.pk)).status_code == 404
    assert client.delete(f"{AREAS.format(cast.project.pk)}{area_id}/").status_code == 404


@pytest.mark.parametrize(
    ("assignee", "says"),
    [("viewer", "viewer is a viewer and cannot annotate"), ("stranger", "stranger is not a member of this project")],
)
def test_an_area_goes_only_to_a_member_who_may_annotate(cast, image, client_for, assignee, says):
    refused = draw(client_for(cast.owner), cast, image, assignee=assignee)
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "invalid" and body["field"] == "assignee"
    assert says in body["detail"]


def test_annotators_see_only_their_own_areas_and_may_not_act_on_them(cast, image, client_for):
    client = client_for(cast.owner)
    draw(client, cast, image, assignee="annotator", name="mine")
    draw(client, cast, image, assignee="reviewer", name="theirs")
    listed = client_for(cast.annotator).get(AREAS.format(cast.project.pk)).json()["features"]
    assert [(f["properties"]["name"], f["properties"]["allowed_actions"]) for f in listed] == [("mine", [])]
    everyone = client_for(cast.viewer).get(AREAS.format(cast.project.pk)).json()["features"]
    assert sorted(f["properties"]["name"] for f in everyone) == ["mine", "theirs"]


@pytest.fixture
def annotators_work(cast, image, make_annotation, client_for):
    """The annotator's area in the west of the image with two drafts, one submitted and
    one approved annotation inside it; a rejected one of theirs outside it (a two-line reason)."""
    from annotator.workflow import assignments, review

    area = assignments.create_area(
        cast.project,
        cast.owner,
        image_id=image.pk,
        geometry=square(*west(), half=0.002),
        assignee="annotator",
        name="West field",
    )
    for dx in (-0.001, 0.0):
        make_annotation(cast.annotator, "draft", square(*west(dx), half=0.0003))
    make_annotation(cast.annotator, "submitted", square(*west(0.001), half=0.0003))
    make_annotation(cast.reviewer, "approved", square(*west(0.0017), half=0.0003), reviewer=cast.owner)
    outside = make_annotation(cast.annotator, "submitted", square(CENTRE[0] + 0.006, CENTRE[1]))
    outside = review.transition(
        outside.pk, "reject", cast.reviewer, comment="\n  Misses the barn's east wing.  \nSee the roof."
    )
    return area, outside


def test_my_tasks_list_my_areas_with_progress_and_my_rejected_annotations_with_the_reason(
    cast, image, client_for, annotators_work
):
    area, rejected = annotators_work
    response = client_for(cast.annotator).get("/api/v1/tasks/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["truncated"] is False
    first, second = body["tasks"]

    assert (first["kind"], first["id"], first["name"]) == ("area", area.pk, "West field")
    assert (first["project_name"], first["image_name"]) == ("Prairie fields", "prairie.tif")
    assert first["url"] == f"/images/{image.pk}/map/?area={area.pk}"
    assert first["progress"]["by_state"] == {"draft": 2, "submitted": 1, "approved": 1, "rejected": 0}
    # Two 0.0006° squares of the 0.004° area are submitted or approved: twice 0.0225 of it.
    assert first["progress"]["completion"] == pytest.approx(0.045, rel=0.02)
    w, s, e, n = first["bbox"]
    assert (w, s, e, n) == pytest.approx((west()[0] - 0.002, CENTRE[1] - 0.002, west()[0] + 0.002, CENTRE[1] + 0.002))

    assert (second["kind"], second["id"]) == ("rejected", rejected.pk)
    assert second["comment"] == "Misses the barn's east wing."
    assert second["reviewed_by"] == "reviewer"
    assert second["url"] == f"/images/{image.pk}/map/?annotation={rejected.pk}"
    assert second["progress"] is None


def test_each_member_sees_only_their_own_tasks(cast, image, client_for, annotators_work):
    from annotator.workflow import assignments

    assignments.create_area(cast.project, cast.owner, image_id=image.pk, geometry=square(*CENTRE), assignee="reviewer")
    tasks = {p: client_for(getattr(cast, p)).get("/api/v1/tasks/").json()["tasks"] for p in ("reviewer", "owner")}
    assert [(t["kind"], t["name"]) for t in tasks["reviewer"]] == [("area", f"Area {tasks['reviewer'][0]['id']}")]
    assert tasks["owner"] == []
    assert client_for(cast.stranger).get("/api/v1/tasks/").json()["tasks"] == []
    # A project the caller is not in is not found; their own is filtered.
    assert client_for(cast.stranger).get("/api/v1/tasks/", {"project": cast.project.pk}).status_code == 404
    only = client_for(cast.annotator).get("/api/v1/tasks/", {"project": cast.project.pk}).json()["tasks"]
    assert len(only) == 2
    assert client_for(None).get("/api/v1/tasks/").status_code in (401, 403)


def test_a_fixed_annotation_leaves_my_tasks(cast, client_for, annotators_work):
    from annotator.workflow import annotations, review

    _area, rejected = annotators_work
    fixed = square(CENTRE[0] + 0.006, CENTRE[1], 0.0004)
    annotations.update_annotation(rejected.pk, cast.annotator, geometry=fixed, expected_version=rejected.version)
    review.transition(rejected.pk, "submit", cast.annotator)
    kinds = [t["kind"] for t in client_for(cast.annotator).get("/api/v1/tasks/").json()["tasks"]]
    assert kinds == ["area"]


def test_next_task_follows_the_current_one_and_goes_round(cast, client_for, annotators_work):
    area, rejected = annotators_work
    client = client_for(cast.annotator)

    def following(**params):
        body = client.get("/api/v1/tasks/next/", params).json()
        return body["task"] and (body["task"]["kind"], body["task"]["id"]), body["remaining"]

    assert following() == (("area", area.pk), 2)
    assert following(kind="area", id=area.pk) == (("rejected", rejected.pk), 2)
    assert following(kind="rejected", id=rejected.pk) == (("area", area.pk), 2)
    # The current task is done (no longer listed): the first one left.
    assert following(kind="rejected", id=rejected.pk + 1000) == (("area", area.pk), 2)
    assert client_for(cast.owner).get("/api/v1/tasks/next/").json() == {"task": None, "remaining": 0}


def test_project_progress_counts_annotations_by_state_per_image_and_each_areas_completion(
    cast, image, client_for, annotators_work
):
    area, _rejected = annotators_work
    empty = make_image(cast.project, name="empty.tif")
    response = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/progress/")
    assert response.status_code == 200, response.content
    body = response.json()
    images = {i["name"]: i for i in body["images"]}
    assert images["prairie.tif"]["by_state"] == {"draft": 2, "submitted": 1, "approved": 1, "rejected": 1}
    assert images["prairie.tif"]["count"] == 5
    assert images[empty.name]["count"] == 0
    (row,) = body["areas"]
    assert (row["id"], row["name"], row["assignee"], row["image_name"]) == (
        area.pk,
        "West field",
        "annotator",
        "prairie.tif",
    )
    assert row["by_state"]["draft"] == 2
    assert row["completion"] == pytest.approx(0.045, rel=0.02)
    assert body["areas_truncated"] is False
    assert client_for(cast.stranger).get(f"/api/v1/projects/{cast.project.pk}/progress/").status_code == 404


def test_my_tasks_cost_the_same_queries_for_one_area_as_for_forty(cast, image, client_for, make_annotation):
    from annotator.workflow import assignments, review

    client = client_for(cast.annotator)

    def add(n: int) -> None:
        for i in range(n):
            geometry = square(CENTRE[0] - 0.008 + i * 0.0004, CENTRE[1], half=0.0002)
            assignments.create_area(
                cast.project, cast.owner, image_id=image.pk, geometry=geometry, assignee="annotator"
            )
            bad = make_annotation(cast.annotator, "submitted", geometry)
            review.transition(bad.pk, "reject", cast.owner, comment=f"number {i}")

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/tasks/")
        assert response.status_code == 200
        return len(queries), len(response.json()["tasks"])

    add(1)
    few, listed = count()
    assert listed == 2
    add(39)
    many, listed = count()
    assert listed == 80
    assert few == many <= TASKS_QUERIES
    print(f"my tasks: {few} queries for 2 tasks, {many} for 80")
