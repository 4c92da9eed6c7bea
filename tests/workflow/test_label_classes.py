"""Label classes through the API: created last, renamed, reordered, archived, deleted only
when unused, and their attribute definitions checked."""

from __future__ import annotations

import pytest

from tests.support.workflow import CENTRE, square


@pytest.fixture
def classes(cast):
    from annotator.models import LabelClass

    return [
        LabelClass.objects.create(project=cast.project, name=name, order=i)
        for i, name in enumerate(["road", "field", "pond"])
    ]


def url(cast, tail: str = "") -> str:
    return f"/api/v1/projects/{cast.project.pk}/label-classes/{tail}"


def names(response) -> list[str]:
    return [c["name"] for c in response.json()]


def label(annotation_id: int, label_class) -> None:
    from annotator.models import Annotation

    Annotation.objects.filter(pk=annotation_id).update(label_class=label_class)


def test_a_new_class_goes_last_whatever_its_name(cast, classes, client_for):
    created = client_for(cast.owner).post(url(cast), {"name": "airport"}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["order"] == 3
    assert created.json()["annotation_count"] == 0
    assert names(client_for(cast.annotator).get(url(cast))) == ["road", "field", "pond", "airport"]


def test_an_owner_reorders_the_classes_by_sending_every_id_in_order(cast, classes, client_for):
    road, field, pond = classes

    response = client_for(cast.owner).post(url(cast, "reorder/"), {"ids": [pond.pk, road.pk, field.pk]}, format="json")

    assert response.status_code == 200, response.content
    assert names(response) == ["pond", "road", "field"]
    assert [c["order"] for c in response.json()] == [0, 1, 2]
    assert names(client_for(cast.viewer).get(url(cast))) == ["pond", "road", "field"]


@pytest.mark.parametrize(
    ("ids", "reason"),
    [
        (lambda c, other: [c[0].pk, c[1].pk], "missing: 'pond'"),
        (lambda c, other: [c[0].pk, c[1].pk, c[2].pk, other.pk], "are not in this project"),
        (lambda c, other: [c[0].pk, c[0].pk, c[1].pk, c[2].pk], "more than once"),
    ],
)
def test_a_reorder_that_leaves_out_repeats_or_borrows_a_class_is_refused(cast, classes, client_for, ids, reason):
    from annotator.models import LabelClass

    other = LabelClass.objects.create(project=cast.other_project, name="elsewhere")

    response = client_for(cast.owner).post(url(cast, "reorder/"), {"ids": ids(classes, other)}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert reason in response.json()["detail"]
    assert names(client_for(cast.owner).get(url(cast))) == ["road", "field", "pond"]


def test_only_owners_reorder(cast, classes, client_for):
    ids = [c.pk for c in reversed(classes)]
    assert client_for(cast.reviewer).post(url(cast, "reorder/"), {"ids": ids}, format="json").status_code == 403
    assert client_for(cast.stranger).post(url(cast, "reorder/"), {"ids": ids}, format="json").status_code == 404


def test_an_owner_renames_a_class_and_its_annotations_show_the_new_name(cast, classes, client_for, make_annotation):
    road = classes[0]
    annotation = make_annotation(cast.annotator)
    label(annotation.pk, road)

    response = client_for(cast.owner).patch(url(cast, f"{road.pk}/"), {"name": "track"}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["annotation_count"]) == ("track", 1)
    feature = client_for(cast.annotator).get(f"/api/v1/annotations/{annotation.pk}/").json()
    assert feature["properties"]["label_class_name"] == "track"


def test_a_class_in_use_is_not_deleted_and_the_refusal_says_how_many_annotations_use_it(
    cast, classes, client_for, make_annotation
):
    road = classes[0]
    for _ in range(2):
        label(make_annotation(cast.annotator).pk, road)
    deleted = make_annotation(cast.annotator)
    label(deleted.pk, road)
    client_for(cast.annotator).delete(f"/api/v1/annotations/{deleted.pk}/")  # a tombstone does not count

    response = client_for(cast.owner).delete(url(cast, f"{road.pk}/"))

    assert response.status_code == 409, response.content
    body = response.json()
    assert (body["code"], body["annotation_count"]) == ("in_use", 2)
    assert body["detail"].startswith("2 annotations use the class 'road', so it cannot be deleted. Archive it")
    listed = {c["name"]: c["annotation_count"] for c in client_for(cast.owner).get(url(cast)).json()}
    assert listed == {"road": 2, "field": 0, "pond": 0}


def test_an_unused_class_is_deleted(cast, classes, client_for):
    response = client_for(cast.owner).delete(url(cast, f"{classes[2].pk}/"))

    assert response.status_code == 204
    assert names(client_for(cast.owner).get(url(cast))) == ["road", "field"]


def test_an_owner_archives_and_unarchives_a_class_that_stays_listed(cast, classes, client_for):
    road = classes[0]
    owner = client_for(cast.owner)

    archived = owner.patch(url(cast, f"{road.pk}/"), {"archived": True}, format="json")

    assert archived.status_code == 200, archived.content
    assert archived.json()["archived"] is True
    assert owner.get(url(cast)).json()[0]["archived"] is True
    back = owner.patch(url(cast, f"{road.pk}/"), {"archived": False}, format="json")
    assert back.json()["archived"] is False


def test_the_order_is_not_changed_by_a_patch(cast, classes, client_for):
    response = client_for(cast.owner).patch(url(cast, f"{classes[0].pk}/"), {"order": 9}, format="json")

    assert response.status_code == 200
    assert response.json()["order"] == 0


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"name": "crop"}, "must be a list"),
        (["crop"], "must be an object"),
        ([{"name": "crop", "type": "colour"}], "type 'colour'"),
        ([{"name": "crop", "type": "choice"}], "needs a list of text choices"),
        ([{"name": "crop", "type": "choice", "choices": ["a", "a"]}], "lists a choice twice"),
        ([{"name": "crop", "type": "text", "choices": ["a"]}], "Only choice attributes have choices"),
        ([{"name": "crop", "type": "text", "required": "yes"}], "required must be true or false"),
        ([{"name": "crop", "type": "text", "colour": "red"}], "unknown keys: colour"),
        ([{"name": "crop", "type": "text"}, {"name": "crop", "type": "number"}], "defined twice"),
        ([{"name": "<b>", "type": "text"}], "is not a short plain name"),
    ],
)
def test_attribute_definitions_of_the_wrong_shape_are_refused(cast, client_for, attributes, reason):
    response = client_for(cast.owner).post(url(cast), {"name": "field", "attributes": attributes}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["field"] == "attributes"
    assert reason in response.json()["detail"]


def test_attribute_definitions_of_each_type_are_kept(cast, client_for):
    attributes = [
        {"name": "crop", "type": "choice", "required": True, "choices": ["wheat", "canola"]},
        {"name": "yield", "type": "number", "required": False},
        {"name": "note", "type": "text", "required": False},
        {"name": "irrigated", "type": "boolean", "required": True},
    ]
    created = client_for(cast.owner).post(url(cast), {"name": "field", "attributes": attributes}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["attributes"] == attributes


def test_listing_classes_with_their_counts_costs_one_query(cast, classes, client_for, make_annotation):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for label_class in classes:
        label(make_annotation(cast.annotator, geometry=square(*CENTRE)).pk, label_class)
    client = client_for(cast.owner)
    client.get(url(cast))  # the session and the role are looked up once the same way in both

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(cast))

    assert [c["annotation_count"] for c in response.json()] == [1, 1, 1]
    class_queries = [q for q in queries.captured_queries if "annotator_labelclass" in q["sql"]]
    assert len(class_queries) == 1
