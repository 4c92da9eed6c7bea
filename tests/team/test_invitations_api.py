"""Invitation links through the API: owners make and revoke them; whoever holds one joins
the project with the invited role, once, before it expires; only the token's hash is kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotator.models import Invitation, Membership
from annotator.team import invitations

ACCEPT = "/api/v1/invitations/accept/"


def _invite(client, project, role="annotator"):
    response = client.post(f"/api/v1/projects/{project.pk}/invitations/", {"role": role}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _token(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def test_an_owner_makes_a_link_whose_token_is_stored_only_hashed(cast, client_for, settings):
    settings.INVITATION_MAX_AGE_DAYS = 3
    body = _invite(client_for(cast.owner), cast.project, "reviewer")
    assert body["url"].startswith("http://testserver/invitations/")
    assert (body["role"], body["status"], body["created_by"]) == ("reviewer", "pending", "owner")
    token = _token(body["url"])
    row = Invitation.objects.get(pk=body["id"])
    assert token not in {row.token_hash, *map(str, row.__dict__.values())}
    assert row.token_hash == invitations.hash_token(token)
    assert abs(row.expires_at - (timezone.now() + timedelta(days=3))) < timedelta(minutes=1)


def test_the_list_never_shows_a_link_again(cast, client_for):
    client = client_for(cast.owner)
    _invite(client, cast.project)
    listed = client.get(f"/api/v1/projects/{cast.project.pk}/invitations/").json()["results"]
    assert len(listed) == 1
    assert listed[0]["url"] is None and "token" not in listed[0]


@pytest.mark.parametrize(("persona", "status"), [("reviewer", 403), ("annotator", 403), ("stranger", 404)])
def test_only_owners_invite(cast, client_for, persona, status):
    client = client_for(getattr(cast, persona))
    assert client.post(f"/api/v1/projects/{cast.project.pk}/invitations/", {"role": "owner"}).status_code == status
    assert client.get(f"/api/v1/projects/{cast.project.pk}/invitations/").status_code == status


def test_a_signed_in_user_accepts_and_joins_with_the_invited_role(cast, make_user, client_for):
    token = _token(_invite(client_for(cast.owner), cast.project, "reviewer")["url"])
    newcomer = make_user("newcomer")
    response = client_for(newcomer).post(ACCEPT, {"token": token}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "project": cast.project.pk,
        "project_name": "Prairie fields",
        "role": "reviewer",
        "username": "newcomer",
    }
    assert Membership.objects.get(project=cast.project, user=newcomer).role == "reviewer"
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.accepted_by) == ("accepted", newcomer)


def test_a_link_works_once(cast, make_user, client_for):
    token = _token(_invite(client_for(cast.owner), cast.project)["url"])
    assert client_for(make_user("first")).post(ACCEPT, {"token": token}, format="json").status_code == 201
    response = client_for(make_user("second")).post(ACCEPT, {"token": token}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invitation_used"
    assert not Membership.objects.filter(user__username="second").exists()


def test_someone_without_an_account_creates_one_and_joins(cast, client_for, client):
    token = _token(_invite(client_for(cast.owner), cast.project, "viewer")["url"])
    body = {"token": token, "username": "river.survey", "password": "muddy-banks-42"}
    response = client_for(None).post(ACCEPT, body, format="json")
    assert response.status_code == 201, response.content
    user = get_user_model().objects.get(username="river.survey")
    assert Membership.objects.get(project=cast.project, user=user).role == "viewer"
    assert client.login(username="river.survey", password="muddy-banks-42")


def test_an_expired_link_is_refused_and_creates_no_account(cast, client_for):
    token = _token(_invite(client_for(cast.owner), cast.project)["url"])
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    body = {"token": token, "username": "late", "password": "muddy-banks-42"}
    response = client_for(None).post(ACCEPT, body, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invitation_expired"
    assert "ask the project's owner for a new one" in response.json()["detail"]
    assert not get_user_model().objects.filter(username="late").exists()
    assert Invitation.objects.get().status == "expired"


def test_a_used_link_creates_no_account(cast, make_user, client_for):
    token = _token(_invite(client_for(cast.owner), cast.project)["url"])
    client_for(make_user("first")).post(ACCEPT, {"token": token}, format="json")
    body = {"token": token, "username": "second", "password": "muddy-banks-42"}
    assert client_for(None).post(ACCEPT, body, format="json").json()["code"] == "invitation_used"
    assert not get_user_model().objects.filter(username="second").exists()


@pytest.mark.parametrize("token", ["not-a-token", "", "x" * 200])
def test_an_unknown_token_is_invalid(cast, make_user, client_for, token):
    response = client_for(make_user("guesser")).post(ACCEPT, {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "token"


def test_a_revoked_link_no_longer_works(cast, make_user, client_for):
    owner = client_for(cast.owner)
    created = _invite(owner, cast.project)
    assert owner.delete(f"/api/v1/projects/{cast.project.pk}/invitations/{created['id']}/").status_code == 204
    response = client_for(make_user("newcomer")).post(ACCEPT, {"token": _token(created["url"])}, format="json")
    assert response.status_code == 400
    assert not Membership.objects.filter(user__username="newcomer").exists()


def test_a_member_cannot_use_a_link_and_it_stays_for_someone_else(cast, client_for):
    token = _token(_invite(client_for(cast.owner), cast.project, "owner")["url"])
    response = client_for(cast.viewer).post(ACCEPT, {"token": token}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert Membership.objects.get(project=cast.project, user=cast.viewer).role == "viewer"
    assert Invitation.objects.get().status == "pending"


def test_a_new_account_needs_a_username_and_a_good_password(cast, client_for):
    token = _token(_invite(client_for(cast.owner), cast.project)["url"])
    anonymous = client_for(None)
    assert anonymous.post(ACCEPT, {"token": token}, format="json").json()["field"] == "username"
    weak = anonymous.post(ACCEPT, {"token": token, "username": "newbie", "password": "123"}, format="json")
    assert (weak.status_code, weak.json()["field"]) == (400, "password")
    taken = anonymous.post(ACCEPT, {"token": token, "username": "Owner", "password": "muddy-banks-42"}, format="json")
    assert (taken.status_code, taken.json()["field"]) == (400, "username")
    assert Invitation.objects.get().status == "pending"


def test_invitations_go_with_their_project(cast, client_for):
    _invite(client_for(cast.owner), cast.project)
    cast.project.delete()
    assert not Invitation.objects.exists()
