"""The page an invitation link opens: a newcomer chooses a username and password and lands
in the project; a signed-in user just joins; dead links say why, in words."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from annotator.models import Invitation, Membership
from annotator.team import invitations


def _link(cast, role="annotator") -> str:
    _invitation, token = invitations.create_invitation(cast.project, role, cast.owner)
    return invitations.link_path(token)


def test_a_newcomer_creates_an_account_and_lands_in_the_project(cast, client):
    link = _link(cast, "reviewer")
    page = client.get(link)
    assert page.status_code == 200
    text = page.content.decode()
    assert "owner invites you" in text and "Prairie fields" in text and ">reviewer<" in text
    assert "Create account and join" in text
    response = client.post(
        link, {"username": "heron", "password1": "tall-grass-77", "password2": "tall-grass-77"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/projects/{cast.project.pk}/"
    assert response.context["user"].username == "heron"
    assert response.context["role"] == "reviewer"
    assert b"Welcome, heron: you joined Prairie fields as reviewer." in response.content
    assert Invitation.objects.get().accepted_by.username == "heron"


def test_form_errors_keep_the_link_unused(cast, client):
    link = _link(cast)
    response = client.post(link, {"username": "heron", "password1": "tall-grass-77", "password2": "other-grass-77"})
    assert response.status_code == 200
    assert b"password fields didn" in response.content
    response = client.post(link, {"username": "owner", "password1": "tall-grass-77", "password2": "tall-grass-77"})
    assert b"already exists" in response.content
    assert not get_user_model().objects.filter(username="heron").exists()
    assert Invitation.objects.get().status == "pending"


def test_a_signed_in_user_joins_with_one_click(cast, make_user, client):
    link = _link(cast, "viewer")
    client.force_login(make_user("egret"))
    assert b"Join as egret" in client.get(link).content
    response = client.post(link, follow=True)
    assert response.redirect_chain[-1][0] == f"/projects/{cast.project.pk}/"
    assert Membership.objects.get(project=cast.project, user__username="egret").role == "viewer"


def test_a_member_is_told_they_already_are_one(cast, client):
    link = _link(cast)
    client.force_login(cast.reviewer)
    page = client.get(link).content.decode()
    assert "already a member of this project, as reviewer" in page
    client.post(link)
    assert Invitation.objects.get().status == "pending"


def test_dead_links_say_why(cast, make_user, client):
    used = _link(cast)
    client.force_login(make_user("first"))
    client.post(used)
    client.logout()
    response = client.get(used)
    assert response.status_code == 409
    assert b"already been used" in response.content

    expired = _link(cast)
    Invitation.objects.filter(accepted_at__isnull=True).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.post(expired, {"username": "late", "password1": "tall-grass-77", "password2": "tall-grass-77"})
    assert response.status_code == 409
    assert b"expired" in response.content
    assert not get_user_model().objects.filter(username="late").exists()

    response = client.get("/invitations/made-up-token/")
    assert response.status_code == 400
    assert b"not valid" in response.content
