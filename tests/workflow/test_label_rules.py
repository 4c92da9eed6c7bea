"""What a submit needs (a label class where the project requires one, the class's required
attributes) and how attribute values are checked on save, through the API."""

from __future__ import annotations

import pytest

from tests.support.workflow import CENTRE, square


@pytest.fixture
def strict_project(cast):
    cast.project.require_label = True
    cast.project.save(update_fields=["require_label"])
    return cast.project


def create(client, cast, image, **extra):
    return client.post(
        f"/api/v1/projects/{cast.project.pk}/annotations/",
        {"image": image.pk, "geometry": square(*CENTRE), **extra},
        format="json",
    )


def submit(client, annotation_id: int):
    return client.post(f"/api/v1/annotations/{annotation_id}/submit/", {}, format="json")


def test_an_unlabelled_annotation_is_refused_on_submit_when_the_project_requires_a_label(
    cast, image, strict_project, client_for
):
    client = client_for(cast.annotator)
    annotation = create(client, cast, image).json()

    response = submit(client, annotation["id"])

    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "label_required"
    assert "requires one before it is submitted" in body["detail"]
    from annotator.models import Annotation

    stored = Annotation.objects.get(pk=annotation["id"])
    assert (stored.state, stored.version) == ("draft", 1)


def test_the_same_annotation_is_submitted_once_it_has_a_label(cast, image, strict_project, building, client_for):
    client = client_for(cast.annotator)
    annotation = create(client, cast, image).json()
    labelled = client.patch(
        f"/api/v1/annotations/{annotation['id']}/",
        {"version": 1, "label_class": building.pk, "attributes": {"roof": "flat"}},
        format="json",
    )
    assert labelled.status_code == 200, labelled.content

    response = submit(client, annotation["id"])

    assert response.status_code == 200, response.content
    assert response.json()["properties"]["state"] == "submitted"


def test_an_owner_turns_the_label_rule_off_and_unlabelled_work_is_submitted(cast, image, strict_project, client_for):
    turned_off = client_for(cast.owner).patch(
        f"/api/v1/projects/{cast.project.pk}/", {"require_label": False}, format="json"
    )
    assert turned_off.status_code == 200, turned_off.content
    assert turned_off.json()["require_label"] is False
    client = client_for(cast.annotator)
    annotation = create(client, cast, image).json()

    assert submit(client, annotation["id"]).status_code == 200


def test_only_owners_change_the_label_rule(cast, client_for):
    response = client_for(cast.reviewer).patch(
        f"/api/v1/projects/{cast.project.pk}/", {"require_label": True}, format="json"
    )
    assert response.status_code == 403
    cast.project.refresh_from_db()
    assert cast.project.require_label is False


def test_new_projects_require_a_label_by_default(cast, client_for, settings):
    settings.PROJECT_CREATORS = "any"
    response = client_for(cast.owner).post("/api/v1/projects/", {"name": "Coast"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["require_label"] is True


def test_a_draft_is_saved_without_its_required_attributes_and_refused_on_submit_until_they_are_there(
    cast, image, building, client_for
):
    client = client_for(cast.annotator)
    created = create(client, cast, image, label_class=building.pk, attributes={"storeys": 2})
    assert created.status_code == 201, created.content

    refused = submit(client, created.json()["id"])

    assert refused.status_code == 409, refused.content
    assert refused.json()["code"] == "attributes_required"
    assert refused.json()["missing"] == ["roof"]
    assert "'roof'" in refused.json()["detail"]
    filled = client.patch(
        f"/api/v1/annotations/{created.json()['id']}/",
        {"version": 1, "attributes": {"storeys": 2, "roof": "gabled"}},
        format="json",
    )
    assert filled.status_code == 200, filled.content
    assert submit(client, created.json()["id"]).status_code == 200


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"storeys": "two"}, "'storeys' must be a number"),
        ({"storeys": True}, "'storeys' must be a number"),
        ({"roof": "thatched"}, "one of ['flat', 'gabled']"),
        ({"occupied": "yes"}, "'occupied' must be a boolean"),
        ({"note": 5}, "'note' must be a text"),
        ({"colour": "red"}, "Unknown attribute(s) for class 'building': colour"),
    ],
)
def test_a_save_refuses_values_of_the_wrong_type_and_unknown_names(
    cast, image, building, client_for, make_annotation, attributes, reason
):
    annotation = make_annotation(cast.annotator)
    response = client_for(cast.annotator).patch(
        f"/api/v1/annotations/{annotation.pk}/",
        {"version": 1, "label_class": building.pk, "attributes": attributes},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "attributes"
    assert reason in response.json()["detail"]
    annotation.refresh_from_db()
    assert (annotation.version, annotation.label_class_id, annotation.attributes) == (1, None, {})


def test_a_new_class_keeps_only_the_values_it_defines(cast, image, building, client_for):
    from annotator.models import LabelClass

    shed = LabelClass.objects.create(
        project=cast.project, name="shed", attributes=[{"name": "roof", "type": "text", "required": False}]
    )
    client = client_for(cast.annotator)
    created = create(client, cast, image, label_class=building.pk, attributes={"roof": "flat", "storeys": 1})

    moved = client.patch(f"/api/v1/annotations/{created.json()['id']}/", {"version": 1, "label_class": shed.pk},
                         format="json")  # fmt: skip

    assert moved.status_code == 200, moved.content
    assert moved.json()["properties"]["attributes"] == {"roof": "flat"}


def test_an_archived_class_is_not_given_to_new_work_but_stays_on_the_annotations_that_have_it(
    cast, image, building, client_for
):
    client = client_for(cast.annotator)
    kept = create(client, cast, image, label_class=building.pk, attributes={"roof": "flat"}).json()
    building.archived = True
    building.save(update_fields=["archived"])

    refused = create(client, cast, image, label_class=building.pk)
    edited = client.patch(
        f"/api/v1/annotations/{kept['id']}/",
        {"version": 1, "label_class": building.pk, "geometry": square(*CENTRE, half=0.0004)},
        format="json",
    )

    assert refused.status_code == 400
    assert refused.json()["field"] == "label_class"
    assert "archived" in refused.json()["detail"]
    assert edited.status_code == 200, edited.content
    assert edited.json()["properties"]["label_class_name"] == "building"
    assert submit(client, kept["id"]).status_code == 200


def test_an_import_cannot_give_its_drafts_an_archived_class(cast, image, building, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    building.archived = True
    building.save(update_fields=["archived"])

    response = client_for(cast.owner).post(
        f"/api/v1/projects/{cast.project.pk}/imports/",
        {"file": SimpleUploadedFile("fields.geojson", b"{}"), "image": image.pk, "default_label_class": building.pk},
        format="multipart",
    )

    assert response.status_code == 400, response.content
    assert response.json()["field"] == "default_label_class"
    assert "archived" in response.json()["detail"]
