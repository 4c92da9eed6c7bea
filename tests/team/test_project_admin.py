"""Projects made, renamed and deleted through the API: who may create them
(``GEOPROMPT_PROJECT_CREATORS``), the counts a deletion is confirmed with, and what goes."""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon

from annotator.models import Annotation, Image, Membership, Project
from annotator.storage import get_storage
from tests.support.workflow import CENTRE, make_image


def test_a_staff_user_creates_a_project_and_becomes_its_owner(cast, staff, client_for):
    response = client_for(staff).post("/api/v1/projects/", {"name": "Wetlands 2026"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["my_role"], body["image_count"], body["annotation_count"]) == ("owner", 0, 0)
    assert Membership.objects.get(project_id=body["id"], user=staff).role == "owner"


@pytest.mark.parametrize("persona", ["owner", "annotator", "stranger"])
def test_by_default_other_users_get_a_403_that_says_who_may(cast, client_for, persona):
    response = client_for(getattr(cast, persona)).post("/api/v1/projects/", {"name": "Mine"}, format="json")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "forbidden"
    assert "Only staff members can create projects" in body["detail"]
    assert not Project.objects.filter(name="Mine").exists()


def test_the_refusal_comes_before_the_body_is_read(cast, client_for):
    response = client_for(cast.owner).post("/api/v1/projects/", "{name", content_type="application/json")
    assert response.status_code == 403


def test_with_creators_any_every_signed_in_user_may_create(cast, client_for, settings):
    settings.PROJECT_CREATORS = "any"
    response = client_for(cast.viewer).post("/api/v1/projects/", {"name": "Viewer's own"}, format="json")
    assert response.status_code == 201
    assert response.json()["my_role"] == "owner"


def test_anonymous_callers_are_asked_to_log_in(cast, client_for, settings):
    settings.PROJECT_CREATORS = "any"
    assert client_for(None).post("/api/v1/projects/", {"name": "x"}, format="json").status_code == 401


def test_an_owner_renames_the_project(cast, client_for):
    response = client_for(cast.owner).patch(
        f"/api/v1/projects/{cast.project.pk}/",
        {"name": "Prairie fields 2021", "description": "re-flown"},
        format="json",
    )
    assert response.status_code == 200
    cast.project.refresh_from_db()
    assert (cast.project.name, cast.project.description) == ("Prairie fields 2021", "re-flown")


def test_a_reviewer_cannot_rename_the_project(cast, client_for):
    response = client_for(cast.reviewer).patch(f"/api/v1/projects/{cast.project.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 403


def _annotate(image, author, n: int) -> list[Annotation]:
    """``n`` small squares (EPSG:4326) on the image."""
    rows = []
    for i in range(n):
        x, y = CENTRE[0] + i * 0.001, CENTRE[1]
        square = MultiPolygon(Polygon.from_bbox((x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4)), srid=4326)
        rows.append(Annotation.objects.create(project=image.project, image=image, author=author, geometry=square))
    return rows


def test_the_project_says_how_many_images_and_live_annotations_it_holds(cast, client_for):
    first, second = make_image(cast.project), make_image(cast.project, name="second.tif")
    _annotate(first, cast.annotator, 2)
    deleted = _annotate(second, cast.reviewer, 2)[0]
    deleted.deleted_at = deleted.created_at
    deleted.save(update_fields=["deleted_at"])
    make_image(cast.other_project)
    body = client_for(cast.owner).get(f"/api/v1/projects/{cast.project.pk}/").json()
    assert (body["image_count"], body["annotation_count"]) == (2, 3)


def test_the_project_list_counts_without_a_query_per_project(cast, client_for, settings, django_assert_max_num_queries):
    settings.PROJECT_CREATORS = "any"
    client = client_for(cast.owner)
    for n in range(5):
        project = client.post("/api/v1/projects/", {"name": f"p{n}"}, format="json").json()
        _annotate(make_image(Project.objects.get(pk=project["id"])), cast.owner, 1)
    with django_assert_max_num_queries(6):
        results = client.get("/api/v1/projects/").json()["results"]
    assert len(results) == 6
    assert all(p["image_count"] == 1 and p["annotation_count"] == 1 for p in results if p["name"].startswith("p"))


def test_deleting_a_project_deletes_its_rows_and_every_stored_file(
    cast, client_for, django_capture_on_commit_callbacks
):
    image = make_image(cast.project)
    _annotate(image, cast.annotator, 3)
    storage = get_storage()
    storage.put_bytes(b"cog", f"{image.storage_prefix}/cog.tif")
    storage.put_bytes(b"zip", f"projects/{cast.project.pk}/exports/1/export.zip")
    storage.put_bytes(b"kept", f"projects/{cast.other_project.pk}/images/1/cog.tif")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(cast.owner).delete(f"/api/v1/projects/{cast.project.pk}/")
    assert response.status_code == 204
    assert not Project.objects.filter(pk=cast.project.pk).exists()
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not Annotation.objects.filter(project_id=cast.project.pk).exists()
    assert storage.list_keys(f"projects/{cast.project.pk}") == []
    assert storage.list_keys(f"projects/{cast.other_project.pk}") == [
        f"projects/{cast.other_project.pk}/images/1/cog.tif"
    ]


def test_the_project_list_page_offers_new_project_to_those_who_may_create(cast, staff, client):
    client.force_login(staff)
    assert b'id="new-project"' in client.get("/").content
    client.force_login(cast.owner)
    page = client.get("/").content
    assert b'id="new-project"' not in page
    assert b"Projects are created by staff members" in page


def test_owners_get_the_settings_invitation_and_delete_controls(cast, client):
    client.force_login(cast.owner)
    page = client.get(f"/projects/{cast.project.pk}/").content
    assert all(f'id="{i}"'.encode() in page for i in ("project-form", "delete-project", "invite-form"))
    client.force_login(cast.reviewer)
    page = client.get(f"/projects/{cast.project.pk}/").content
    assert not any(f'id="{i}"'.encode() in page for i in ("project-form", "delete-project", "invite-form"))
