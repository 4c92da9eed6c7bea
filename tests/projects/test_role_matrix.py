"""Every foundation endpoint for each persona: owner, reviewer, annotator, viewer,
a member of another project (stranger) and anonymous.

Non-members get 404 (they cannot learn that a project exists), anonymous callers 401,
members without the role 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.choices import JobKind, Role
from annotator.models import Image, Job, LabelClass, Membership
from annotator.team import invitations
from tests.support.rasters import data_file

PERSONAS = ["owner", "reviewer", "annotator", "viewer", "stranger", "anonymous"]
MEMBERS = ["owner", "reviewer", "annotator", "viewer"]


@dataclass
class Endpoint:
    name: str
    method: str
    url: Callable  # (world) -> str
    allowed: list[str]
    ok_status: int
    body: Callable | None = None  # (world) -> dict
    multipart: bool = False


def _world(cast):
    """Objects every endpoint can address."""
    w = cast
    w.label = LabelClass.objects.create(project=cast.project, name="field")
    w.image = Image.objects.create(project=cast.project, name="scene.tif", uploaded_by=cast.owner)
    w.job = Job.objects.create(project=cast.project, kind=JobKind.INGEST, target=w.image, created_by=cast.owner)
    w.viewer_membership = Membership.objects.get(project=cast.project, user=cast.viewer)
    w.newcomer = type(cast.owner).objects.create_user(username="newcomer", password="newcomer-pw-1")
    w.invitation, _token = invitations.create_invitation(cast.project, Role.ANNOTATOR, cast.owner)
    return w


ENDPOINTS = [
    Endpoint("project detail", "get", lambda w: f"/api/v1/projects/{w.project.pk}/", MEMBERS, 200),
    Endpoint(
        "project update",
        "patch",
        lambda w: f"/api/v1/projects/{w.project.pk}/",
        ["owner"],
        200,
        body=lambda w: {"description": "new words"},
    ),
    Endpoint("project delete", "delete", lambda w: f"/api/v1/projects/{w.project.pk}/", ["owner"], 204),
    Endpoint("member list", "get", lambda w: f"/api/v1/projects/{w.project.pk}/members/", MEMBERS, 200),
    Endpoint(
        "member add",
        "post",
        lambda w: f"/api/v1/projects/{w.project.pk}/members/",
        ["owner"],
        201,
        body=lambda w: {"username": "newcomer", "role": "annotator"},
    ),
    Endpoint(
        "member role change",
        "patch",
        lambda w: f"/api/v1/projects/{w.project.pk}/members/{w.viewer_membership.pk}/",
        ["owner"],
        200,
        body=lambda w: {"role": "reviewer"},
    ),
    Endpoint(
        "member remove",
        "delete",
        lambda w: f"/api/v1/projects/{w.project.pk}/members/{w.viewer_membership.pk}/",
        ["owner"],
        204,
    ),
    Endpoint("invitation list", "get", lambda w: f"/api/v1/projects/{w.project.pk}/invitations/", ["owner"], 200),
    Endpoint(
        "invitation create",
        "post",
        lambda w: f"/api/v1/projects/{w.project.pk}/invitations/",
        ["owner"],
        201,
        body=lambda w: {"role": "reviewer"},
    ),
    Endpoint(
        "invitation revoke",
        "delete",
        lambda w: f"/api/v1/projects/{w.project.pk}/invitations/{w.invitation.pk}/",
        ["owner"],
        204,
    ),
    Endpoint("label class list", "get", lambda w: f"/api/v1/projects/{w.project.pk}/label-classes/", MEMBERS, 200),
    Endpoint(
        "label class create",
        "post",
        lambda w: f"/api/v1/projects/{w.project.pk}/label-classes/",
        ["owner"],
        201,
        body=lambda w: {"name": "pond", "colour": "#1f77b4"},
    ),
    Endpoint(
        "label class update",
        "patch",
        lambda w: f"/api/v1/projects/{w.project.pk}/label-classes/{w.label.pk}/",
        ["owner"],
        200,
        body=lambda w: {"colour": "#00ff00"},
    ),
    Endpoint(
        "label class delete",
        "delete",
        lambda w: f"/api/v1/projects/{w.project.pk}/label-classes/{w.label.pk}/",
        ["owner"],
        204,
    ),
    Endpoint("image list", "get", lambda w: f"/api/v1/projects/{w.project.pk}/images/", MEMBERS, 200),
    Endpoint(
        "image upload",
        "post",
        lambda w: f"/api/v1/projects/{w.project.pk}/images/",
        ["owner"],
        201,
        body=lambda w: {"file": SimpleUploadedFile("shade.tif", data_file("hillshade_1band_3857.tif").read_bytes())},
        multipart=True,
    ),
    Endpoint("image detail", "get", lambda w: f"/api/v1/images/{w.image.pk}/", MEMBERS, 200),
    Endpoint(
        "image rename",
        "patch",
        lambda w: f"/api/v1/images/{w.image.pk}/",
        ["owner"],
        200,
        body=lambda w: {"name": "renamed.tif"},
    ),
    Endpoint("image delete", "delete", lambda w: f"/api/v1/images/{w.image.pk}/", ["owner"], 204),
    Endpoint("job list", "get", lambda w: f"/api/v1/projects/{w.project.pk}/jobs/", MEMBERS, 200),
    Endpoint("job detail", "get", lambda w: f"/api/v1/jobs/{w.job.pk}/", MEMBERS, 200),
    Endpoint("job cancel", "post", lambda w: f"/api/v1/jobs/{w.job.pk}/cancel/", ["owner"], 200),
]


def _expected(endpoint: Endpoint, persona: str) -> int:
    if persona == "anonymous":
        return 401
    if persona == "stranger":
        return 404
    return endpoint.ok_status if persona in endpoint.allowed else 403


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_permission_matrix(cast, client_for, endpoint, persona):
    world = _world(cast)
    client = client_for(getattr(cast, persona))
    kwargs = {}
    if endpoint.body:
        kwargs["data"] = endpoint.body(world)
        kwargs["format"] = "multipart" if endpoint.multipart else "json"
    response = getattr(client, endpoint.method)(endpoint.url(world), **kwargs)
    assert response.status_code == _expected(endpoint, persona), response.content[:300]


@pytest.mark.parametrize("persona", PERSONAS)
def test_project_list_shows_only_the_callers_projects(cast, client_for, persona):
    response = client_for(getattr(cast, persona)).get("/api/v1/projects/")
    if persona == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    names = [p["name"] for p in response.json()["results"]]
    expected = ["Someone else's"] if persona == "stranger" else ["Prairie fields"]
    assert names == expected
    if persona != "stranger":
        assert response.json()["results"][0]["my_role"] == persona


@pytest.mark.parametrize("persona", ["owner", "reviewer", "annotator", "viewer", "stranger"])
def test_with_creators_any_every_signed_in_user_can_create_a_project_and_becomes_its_owner(
    cast, client_for, persona, settings
):
    settings.PROJECT_CREATORS = "any"  # the default, staff, is in tests/team/test_project_admin.py
    user = getattr(cast, persona)
    response = client_for(user).post("/api/v1/projects/", {"name": f"{persona}'s survey"}, format="json")
    assert response.status_code == 201
    assert response.json()["my_role"] == "owner"
    assert Membership.objects.get(project_id=response.json()["id"], user=user).role == Role.OWNER


def test_anonymous_project_creation_is_refused(cast, client_for):
    assert client_for(None).post("/api/v1/projects/", {"name": "x"}, format="json").status_code == 401


def test_the_creator_of_a_job_may_cancel_it_without_being_owner(cast, client_for):
    world = _world(cast)
    job = Job.objects.create(project=cast.project, kind=JobKind.INGEST, target=world.image, created_by=cast.annotator)
    response = client_for(cast.annotator).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
