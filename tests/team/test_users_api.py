"""User accounts managed by staff through ``/api/v1/users/``: who may, what they may not do
to themselves or to a superuser, and set-password links that work once and expire."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from rest_framework.authtoken.models import Token

User = get_user_model()


def _path(url: str) -> str:
    return re.sub(r"^http://testserver", "", url)


@pytest.mark.parametrize("persona", ["owner", "annotator", "stranger"])
def test_only_staff_manage_users(cast, client_for, persona):
    client = client_for(getattr(cast, persona))
    for response in (
        client.get("/api/v1/users/"),
        client.post("/api/v1/users/", {"username": "x"}, format="json"),
        client.patch(f"/api/v1/users/{cast.viewer.pk}/", {"is_active": False}, format="json"),
        client.post(f"/api/v1/users/{cast.viewer.pk}/password-link/"),
    ):
        assert response.status_code == 403
        assert response.json() == {"code": "forbidden", "detail": "Only staff members manage user accounts."}
    cast.viewer.refresh_from_db()
    assert cast.viewer.is_active


def test_anonymous_callers_are_asked_to_log_in(cast, client_for):
    assert client_for(None).get("/api/v1/users/").status_code == 401


def test_staff_list_every_account(cast, staff, client_for):
    users = client_for(staff).get("/api/v1/users/").json()["results"]
    assert [u["username"] for u in users] == ["annotator", "owner", "reviewer", "staffer", "stranger", "viewer"]
    assert {"is_active", "is_staff", "has_password", "last_login"} <= set(users[0])
    assert "password" not in users[0]


def test_a_new_account_has_no_password_until_its_link_is_followed(cast, staff, client_for, client):
    response = client_for(staff).post(
        "/api/v1/users/", {"username": "surveyor", "email": "s@example.org"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["username"], body["is_staff"], body["has_password"]) == ("surveyor", False, False)
    assert body["password_link"]["url"].startswith("http://testserver/password/")
    user = User.objects.get(username="surveyor")
    assert not user.has_usable_password()

    # The link leads to the page where the person chooses a password and is logged in.
    page = client.get(_path(body["password_link"]["url"]), follow=True)
    assert b"Choose a password" in page.content and b"surveyor" in page.content
    done = client.post(
        page.redirect_chain[-1][0], {"new_password1": "tall-grass-77", "new_password2": "tall-grass-77"}, follow=True
    )
    assert done.redirect_chain[-1][0] == "/"
    assert done.context["user"].username == "surveyor"
    user.refresh_from_db()
    assert user.check_password("tall-grass-77")

    # Once used, the link is dead.
    client.logout()
    again = client.get(_path(body["password_link"]["url"]), follow=True)
    assert b"This link does not work" in again.content


def test_a_password_link_expires(cast, staff, client_for, client, settings, monkeypatch):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    url = client_for(staff).post(f"/api/v1/users/{cast.viewer.pk}/password-link/").json()["url"]
    later = datetime.now() + timedelta(hours=2)
    monkeypatch.setattr(default_token_generator, "_now", lambda: later)
    page = client.get(_path(url), follow=True)
    assert b"This link does not work" in page.content


def test_usernames_are_unique_whatever_their_case(cast, staff, client_for):
    response = client_for(staff).post("/api/v1/users/", {"username": "OWNER"}, format="json")
    assert (response.status_code, response.json()["field"]) == (400, "username")


def test_a_deactivated_user_can_no_longer_log_in_or_use_a_token(cast, staff, client_for, client):
    token = Token.objects.create(user=cast.annotator)
    admin = client_for(staff)
    response = admin.patch(f"/api/v1/users/{cast.annotator.pk}/", {"is_active": False}, format="json")
    assert (response.status_code, response.json()["is_active"]) == (200, False)
    assert not client.login(username="annotator", password="annotator-pw-123")
    api = client_for(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/v1/projects/").status_code == 401
    link = admin.post(f"/api/v1/users/{cast.annotator.pk}/password-link/")
    assert (link.status_code, link.json()["code"]) == (409, "conflict")

    assert admin.patch(f"/api/v1/users/{cast.annotator.pk}/", {"is_active": True}, format="json").status_code == 200
    assert client.login(username="annotator", password="annotator-pw-123")


def test_a_link_of_an_account_deactivated_since_does_not_work(cast, staff, client_for, client):
    admin = client_for(staff)
    url = admin.post(f"/api/v1/users/{cast.viewer.pk}/password-link/").json()["url"]
    admin.patch(f"/api/v1/users/{cast.viewer.pk}/", {"is_active": False}, format="json")
    assert b"This link does not work" in client.get(_path(url), follow=True).content


def test_staff_cannot_lock_themselves_out(cast, staff, client_for):
    admin = client_for(staff)
    for change in ({"is_active": False}, {"is_staff": False}):
        response = admin.patch(f"/api/v1/users/{staff.pk}/", change, format="json")
        assert response.status_code == 409
        assert "ask another staff member" in response.json()["detail"]
    staff.refresh_from_db()
    assert staff.is_active and staff.is_staff


def test_only_a_superuser_changes_a_superuser(cast, staff, superuser, client_for):
    response = client_for(staff).post(f"/api/v1/users/{superuser.pk}/password-link/")
    assert response.status_code == 403
    assert (
        client_for(staff).patch(f"/api/v1/users/{superuser.pk}/", {"is_active": False}, format="json").status_code
        == 403
    )
    assert (
        client_for(superuser).patch(f"/api/v1/users/{staff.pk}/", {"is_staff": False}, format="json").status_code == 200
    )


def test_staff_make_another_staff_user(cast, staff, client_for):
    response = client_for(staff).patch(f"/api/v1/users/{cast.owner.pk}/", {"is_staff": True}, format="json")
    assert response.status_code == 200
    cast.owner.refresh_from_db()
    assert cast.owner.is_staff


def test_usernames_cannot_be_changed(cast, staff, client_for):
    client_for(staff).patch(f"/api/v1/users/{cast.viewer.pk}/", {"username": "renamed"}, format="json")
    cast.viewer.refresh_from_db()
    assert cast.viewer.username == "viewer"


def test_the_users_page_is_for_staff(cast, staff, client):
    client.force_login(cast.owner)
    assert client.get("/users/").status_code == 403
    assert b'href="/users/"' not in client.get("/").content
    client.force_login(staff)
    assert client.get("/users/").status_code == 200
    assert b'href="/users/"' in client.get("/").content
