"""An update that changes nothing writes nothing: versions list only real changes."""

from __future__ import annotations

import json

from tests.support.workflow import CENTRE, square


def patch(client, annotation, body):
    return client.patch(f"/api/v1/annotations/{annotation.pk}/", body, format="json")


def test_an_update_with_the_same_geometry_label_and_attributes_creates_no_version(cast, make_annotation, client_for):
    from annotator.models import AnnotationVersion, LabelClass
    from annotator.workflow import annotations

    field = LabelClass.objects.create(project=cast.project, name="field", colour="#eab308")
    annotation = make_annotation(cast.annotator)
    annotation = annotations.update_annotation(
        annotation.pk, cast.annotator, expected_version=1, label_class_id=field.pk, attributes={}
    )
    assert annotation.version == 2

    # The geometry exactly as the API gives it back, with the label and attributes it has.
    stored = client_for(cast.annotator).get(f"/api/v1/annotations/{annotation.pk}/").json()
    body = {"version": 2, "geometry": stored["geometry"], "label_class": field.pk, "attributes": {}}
    response = patch(client_for(cast.annotator), annotation, body)
    assert response.status_code == 200, response.content
    assert response.json()["properties"]["version"] == 2
    assert AnnotationVersion.objects.filter(annotation=annotation).count() == 2
    annotation.refresh_from_db()
    assert annotation.version == 2

    # A real change still makes a version.
    response = patch(client_for(cast.annotator), annotation, {"version": 2, "geometry": square(*CENTRE, half=0.0004)})
    assert response.json()["properties"]["version"] == 3
    assert AnnotationVersion.objects.filter(annotation=annotation).count() == 3


def test_an_unchanged_save_of_a_rejected_annotation_leaves_it_rejected(cast, make_annotation, client_for):
    from annotator.models import AnnotationVersion

    annotation = make_annotation(cast.annotator, state="rejected", reviewer=cast.reviewer)
    versions = AnnotationVersion.objects.filter(annotation=annotation).count()
    geometry = json.loads(annotation.geometry.geojson)
    response = patch(client_for(cast.annotator), annotation, {"version": annotation.version, "geometry": geometry})
    assert response.status_code == 200, response.content
    assert response.json()["properties"]["state"] == "rejected"
    assert AnnotationVersion.objects.filter(annotation=annotation).count() == versions


def test_a_stale_unchanged_save_is_still_refused_as_stale(cast, make_annotation, client_for):
    annotation = make_annotation(cast.annotator)
    geometry = json.loads(annotation.geometry.geojson)
    patch(client_for(cast.owner), annotation, {"version": 1, "geometry": square(*CENTRE, half=0.0003)})
    response = patch(client_for(cast.annotator), annotation, {"version": 1, "geometry": geometry})
    assert response.status_code == 409
    assert response.json()["code"] == "stale_version"
