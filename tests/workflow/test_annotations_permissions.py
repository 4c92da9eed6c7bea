"""Permission matrix: every workflow endpoint by owner, reviewer, annotator, viewer, a member
of another project (stranger) and anonymous.

Members without the role get 403, the stranger gets 404 (the project is invisible to them),
anonymous callers get 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.support.workflow import CENTRE, square

WRITERS = {"owner", "reviewer", "annotator"}
REVIEWERS = {"owner", "reviewer"}
MEMBERS = {"owner", "reviewer", "annotator", "viewer"}
OWNERS = {"owner"}


@dataclass
class Endpoint:
    name: str
    method: str
    url: str
    allowed: set[str]
    success: int
    body: Any = None
    format: str = "json"


def _scene(cast, image, make_annotation):
    """The objects every endpoint is exercised on: drafts, a submission, an area, a thread."""
    from annotator.models import VectorImport
    from annotator.workflow import comments

    draft = make_annotation(cast.annotator, geometry=square(CENTRE[0] - 0.003, CENTRE[1]))
    submitted = make_annotation(cast.annotator, state="submitted", geometry=square(CENTRE[0] + 0.003, CENTRE[1]))
    area = comments.save_area(
        cast.project, image_id=image.pk, geometry=square(*CENTRE, half=0.005), assignee="annotator", user=cast.owner
    )
    thread = comments.open_thread(cast.project, cast.annotator, "Is this a barn?", annotation_id=draft.pk)
    vector_import = VectorImport.objects.create(
        project=cast.project, image=image, file_key="x", file_name="b.geojson", created_by=cast.owner
    )
    return draft, submitted, area, thread, vector_import


def _endpoints(cast, image, draft, submitted, area, thread, vector_import) -> list[Endpoint]:
    p = f"/api/v1/projects/{cast.project.pk}"
    a = f"/api/v1/annotations/{draft.pk}"
    s = f"/api/v1/annotations/{submitted.pk}"
    new_geometry = square(CENTRE[0], CENTRE[1] + 0.004)
    return [
        Endpoint("list annotations", "get", f"{p}/annotations/", MEMBERS, 200),
        Endpoint(
            "create annotation",
            "post",
            f"{p}/annotations/",
            WRITERS,
            201,
            {"image": image.pk, "geometry": new_geometry},
        ),
        Endpoint("read annotation", "get", f"{a}/", MEMBERS, 200),
        Endpoint(
            "edit annotation", "patch", f"{a}/", WRITERS, 200, {"version": draft.version, "geometry": new_geometry}
        ),
        Endpoint("delete annotation", "delete", f"{a}/", WRITERS, 204),
        Endpoint("read history", "get", f"{a}/history/", MEMBERS, 200),
        Endpoint("submit", "post", f"{a}/submit/", WRITERS, 200, {}),
        Endpoint("approve", "post", f"{s}/approve/", REVIEWERS, 200, {}),
        Endpoint("reject", "post", f"{s}/reject/", REVIEWERS, 200, {"comment": "Misses the porch."}),
        Endpoint("next for review", "get", f"{p}/review/next/", REVIEWERS, 200),
        Endpoint("list areas", "get", f"{p}/areas/", MEMBERS, 200),
        Endpoint(
            "create area",
            "post",
            f"{p}/areas/",
            REVIEWERS,
            201,
            {"image": image.pk, "geometry": square(*CENTRE, half=0.002), "assignee": "annotator"},
        ),
        Endpoint("read area", "get", f"{p}/areas/{area.pk}/", MEMBERS, 200),
        Endpoint("rename area", "patch", f"{p}/areas/{area.pk}/", REVIEWERS, 200, {"name": "north block"}),
        Endpoint("delete area", "delete", f"{p}/areas/{area.pk}/", REVIEWERS, 204),
        Endpoint("list threads", "get", f"{p}/comments/", MEMBERS, 200),
        Endpoint(
            "open thread at a point",
            "post",
            f"{p}/comments/",
            WRITERS,
            201,
            {"body": "Cloud shadow here", "image": image.pk, "point": {"type": "Point", "coordinates": list(CENTRE)}},
        ),
        Endpoint("read thread", "get", f"{p}/comments/{thread.pk}/", MEMBERS, 200),
        Endpoint("reply", "post", f"{p}/comments/{thread.pk}/reply/", WRITERS, 201, {"body": "Yes, a barn."}),
        Endpoint("resolve thread", "post", f"{p}/comments/{thread.pk}/resolve/", WRITERS, 200, {}),
        Endpoint("reopen thread", "post", f"{p}/comments/{thread.pk}/reopen/", WRITERS, 200, {}),
        Endpoint("dashboard", "get", f"{p}/dashboard/", MEMBERS, 200),
        Endpoint("list imports", "get", f"{p}/imports/", MEMBERS, 200),
        Endpoint(
            "import a vector file",
            "post",
            f"{p}/imports/",
            OWNERS,
            201,
            {"image": image.pk, "file": SimpleUploadedFile("b.geojson", b'{"type": "FeatureCollection"}')},
            "multipart",
        ),
        Endpoint("read an import", "get", f"{p}/imports/{vector_import.pk}/", MEMBERS, 200),
    ]


ENDPOINT_NAMES = [
    "list annotations",
    "create annotation",
    "read annotation",
    "edit annotation",
    "delete annotation",
    "read history",
    "submit",
    "approve",
    "reject",
    "next for review",
    "list areas",
    "create area",
    "read area",
    "rename area",
    "delete area",
    "list threads",
    "open thread at a point",
    "read thread",
    "reply",
    "resolve thread",
    "reopen thread",
    "dashboard",
    "list imports",
    "import a vector file",
    "read an import",
]
PERSONAS = ["owner", "reviewer", "annotator", "viewer", "stranger", "anonymous"]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("endpoint_name", ENDPOINT_NAMES)
def test_each_persona_gets_the_status_its_role_allows(
    cast,
    image,
    make_annotation,
    client_for,
    django_capture_on_commit_callbacks,
    endpoint_name,
    persona,
):
    scene = _scene(cast, image, make_annotation)
    endpoint = next(e for e in _endpoints(cast, image, *scene) if e.name == endpoint_name)
    client = client_for(getattr(cast, persona))
    with django_capture_on_commit_callbacks(execute=False):
        response = getattr(client, endpoint.method)(endpoint.url, endpoint.body, format=endpoint.format)
    if persona == "anonymous":
        expected = 401
    elif persona == "stranger":
        expected = 404
    elif persona in endpoint.allowed:
        expected = endpoint.success
    else:
        expected = 403
    assert response.status_code == expected, (endpoint.name, persona, response.content[:300])


def test_the_matrix_covers_every_endpoint(cast, image, make_annotation):
    endpoints = _endpoints(cast, image, *_scene(cast, image, make_annotation))
    assert [e.name for e in endpoints] == ENDPOINT_NAMES


def test_an_annotator_cannot_edit_someone_elses_annotation(cast, make_annotation, client_for):
    theirs = make_annotation(cast.reviewer)
    response = client_for(cast.annotator).patch(
        f"/api/v1/annotations/{theirs.pk}/", {"version": theirs.version, "attributes": {}}, format="json"
    )
    assert response.status_code == 403
    assert "own annotations" in response.json()["detail"]


def test_an_annotator_cannot_submit_someone_elses_annotation(cast, make_annotation, client_for):
    theirs = make_annotation(cast.reviewer)
    response = client_for(cast.annotator).post(f"/api/v1/annotations/{theirs.pk}/submit/", {}, format="json")
    assert response.status_code == 403


def test_an_annotator_sees_only_the_areas_assigned_to_them(cast, image, client_for):
    from annotator.workflow import comments

    mine = comments.save_area(cast.project, image_id=image.pk, geometry=square(*CENTRE), assignee="annotator")
    comments.save_area(cast.project, image_id=image.pk, geometry=square(*CENTRE), assignee="reviewer")
    seen = client_for(cast.annotator).get(f"/api/v1/projects/{cast.project.pk}/areas/").json()
    assert [f["id"] for f in seen["features"]] == [mine.pk]
    everything = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/areas/").json()
    assert len(everything["features"]) == 2


def test_a_stranger_cannot_create_annotations_on_another_projects_image(cast, image, client_for):
    from tests.support.workflow import make_image

    their_image = make_image(cast.other_project)
    response = client_for(cast.stranger).post(
        f"/api/v1/projects/{cast.other_project.pk}/annotations/",
        {"image": image.pk, "geometry": square(*CENTRE)},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "image"
    assert their_image.annotations.count() == 0
