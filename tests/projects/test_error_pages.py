"""Pages that are not there, or not for this user, answer in the app's own look with a way
back; API paths keep their JSON errors."""

from __future__ import annotations

import pytest


def test_a_missing_page_is_the_apps_404_with_a_way_back_to_the_projects(cast, client):
    client.force_login(cast.annotator)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page
    assert "/no/such/page/" in page
    assert "geoprompt/app.css" in page and 'class="brand"' in page
    assert 'href="/">Go to your projects</a>' in page
    assert "Back to the previous page" not in page


def test_the_404_links_back_to_the_page_the_visitor_came_from(cast, client):
    client.force_login(cast.annotator)
    came_from = f"http://testserver/projects/{cast.project.pk}/"
    page = client.get("/images/999999/map/", HTTP_REFERER=came_from).content.decode()
    assert f'href="{came_from}">Back to the previous page</a>' in page


def test_another_projects_page_is_the_same_404_for_a_stranger(cast, client):
    client.force_login(cast.stranger)
    response = client.get(f"/projects/{cast.project.pk}/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_a_path_typed_into_the_404_is_shown_as_text(cast, client):
    client.force_login(cast.annotator)
    page = client.get("/<script>alert(1)</script>/").content.decode()
    assert "<script>alert(1)</script>" not in page


def test_a_page_refused_to_a_non_staff_member_is_the_apps_403_saying_why(cast, client):
    client.force_login(cast.owner)
    response = client.get("/users/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You may not open this page" in page
    assert "Only staff members manage user accounts." in page
    assert 'href="/">Go to your projects</a>' in page


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/v1/images/999999/"])
def test_api_paths_keep_their_json_404(cast, client, path):
    client.force_login(cast.owner)
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_found"
