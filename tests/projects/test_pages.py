"""The first pages: log in, see my projects, open an image on the map."""

from __future__ import annotations

import pytest


def test_pages_need_a_login(cast, client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_member_logs_in_and_sees_their_project_and_its_map(cast, client, ingested_image):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    response = client.post("/login/", {"username": "annotator", "password": "annotator-pw-123"})
    assert response.status_code == 302
    home = client.get("/")
    assert b"Prairie fields" in home.content
    assert b"Someone else" not in home.content
    project_page = client.get(f"/projects/{cast.project.pk}/")
    assert image.name.encode() in project_page.content
    map_page = client.get(f"/images/{image.pk}/map/")
    assert map_page.status_code == 200
    assert f'data-image-url="/api/v1/images/{image.pk}/"'.encode() in map_page.content
    assert b"geoprompt/annotate.js" in map_page.content


@pytest.mark.parametrize("path", ["/projects/{project}/", "/images/{image}/map/"])
def test_a_stranger_gets_404_for_another_projects_pages(cast, client, ingested_image, path):
    image = ingested_image("hillshade_1band_3857.tif")
    client.force_login(cast.stranger)
    response = client.get(path.format(project=cast.project.pk, image=image.pk))
    assert response.status_code == 404


def test_wrong_password_is_refused(cast, client):
    response = client.post("/login/", {"username": "annotator", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


@pytest.mark.parametrize(
    "path", ["/projects/{project}/review/", "/projects/{project}/dashboard/", "/projects/{project}/exports/"]
)
def test_review_dashboard_and_exports_pages_are_for_members_only(cast, client, path):
    client.force_login(cast.annotator)
    assert client.get(path.format(project=cast.project.pk)).status_code == 200
    client.force_login(cast.stranger)
    assert client.get(path.format(project=cast.project.pk)).status_code == 404


def test_only_owners_get_the_upload_members_and_model_forms(cast, client):
    client.force_login(cast.owner)
    page = client.get(f"/projects/{cast.project.pk}/").content
    assert b'id="upload-form"' in page and b'id="member-form"' in page and b'id="model-form"' in page
    client.force_login(cast.annotator)
    page = client.get(f"/projects/{cast.project.pk}/").content
    assert b'id="upload-form"' not in page and b'id="member-form"' not in page and b'id="model-form"' not in page
