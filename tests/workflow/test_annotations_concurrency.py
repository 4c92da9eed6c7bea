"""History and concurrency: updates name the version they edit; stale ones get 409 and lose nothing."""

from __future__ import annotations

import threading

import pytest

from tests.support.workflow import CENTRE, square


def test_the_second_of_two_edits_from_the_same_version_gets_409(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator)
    url = f"/api/v1/annotations/{annotation.pk}/"
    mine, theirs = client_for(cast.annotator), client_for(cast.reviewer)
    seen_by_both = mine.get(url)["ETag"]
    assert seen_by_both == '"1"'

    first = mine.patch(url, {"geometry": square(*CENTRE, half=0.0007)}, format="json", HTTP_IF_MATCH=seen_by_both)
    second = theirs.patch(url, {"geometry": square(*CENTRE, half=0.0002)}, format="json", HTTP_IF_MATCH=seen_by_both)

    assert first.status_code == 200
    assert first["ETag"] == '"2"'
    assert second.status_code == 409
    assert second.json()["current_version"] == 2
    history = mine.get(f"{url}history/").json()
    assert [(v["version"], v["action"], v["user"]) for v in history] == [
        (1, "created", "annotator"),
        (2, "updated", "annotator"),
    ]
    annotation.refresh_from_db()
    assert annotation.version == 2
    assert annotation.geometry.extent[2] == pytest.approx(CENTRE[0] + 0.0007)


def test_the_version_can_be_named_in_the_body_instead_of_if_match(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator)
    client = client_for(cast.annotator)
    url = f"/api/v1/annotations/{annotation.pk}/"
    moved = {"version": 1, "geometry": square(*CENTRE, half=0.0007)}
    assert client.patch(url, moved, format="json").status_code == 200
    stale = client.patch(url, {"version": 1, "geometry": square(*CENTRE, half=0.0002)}, format="json")
    assert stale.status_code == 409
    assert "version 2" in stale.json()["detail"]


def test_an_edit_that_names_no_version_is_refused(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator)
    response = client_for(cast.annotator).patch(
        f"/api/v1/annotations/{annotation.pk}/", {"attributes": {}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "version"


def test_a_refused_edit_changes_nothing(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator)
    before = annotation.geometry.wkt
    client = client_for(cast.annotator)
    url = f"/api/v1/annotations/{annotation.pk}/"
    bowtie = {"type": "Polygon", "coordinates": [[[-98.691, 47.011], [-98.689, 47.009], [-98.689, 47.011],
                                                  [-98.691, 47.009], [-98.691, 47.011]]]}  # fmt: skip
    assert client.patch(url, {"version": 1, "geometry": bowtie}, format="json").status_code == 400
    annotation.refresh_from_db()
    assert (annotation.version, annotation.geometry.wkt) == (1, before)
    assert annotation.versions.count() == 1


def test_deleting_keeps_a_tombstone_in_history(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator)
    client = client_for(cast.annotator)
    url = f"/api/v1/annotations/{annotation.pk}/"
    assert client.delete(url, HTTP_IF_MATCH='"1"').status_code == 204
    assert client.get(url).status_code == 404
    listed = client.get(f"/api/v1/projects/{cast.project.pk}/annotations/").json()
    assert listed["count"] == 0
    history = client.get(f"{url}history/").json()
    assert [(v["version"], v["action"]) for v in history] == [(1, "created"), (2, "deleted")]
    assert history[-1]["geometry"]["type"] == "MultiPolygon"


@pytest.mark.django_db(transaction=True)
def test_simultaneous_edits_from_two_threads_let_exactly_one_win(cast, make_annotation):
    """Two real database connections race on the same version: the row lock lets one through."""
    from django.db import connection

    from annotator.errors import Conflict
    from annotator.workflow import annotations

    annotation = make_annotation(cast.annotator)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def edit(user, half):
        try:
            barrier.wait()
            annotations.update_annotation(annotation.pk, user, expected_version=1, geometry=square(*CENTRE, half=half))
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(u, h)) for u, h in ((cast.annotator, 6e-4), (cast.owner, 3e-4))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict", "ok"]
    assert list(annotation.versions.values_list("version", flat=True)) == [1, 2]
