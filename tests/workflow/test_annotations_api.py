"""Annotations through the API: creation, geometry checks, attributes, areas and filters."""

from __future__ import annotations

import pytest

from tests.support.workflow import CENTRE, FOOTPRINT, square


@pytest.fixture
def annotator_client(cast, client_for):
    return client_for(cast.annotator)


def create(client, cast, image, geometry, **extra):
    return client.post(
        f"/api/v1/projects/{cast.project.pk}/annotations/",
        {"image": image.pk, "geometry": geometry, **extra},
        format="json",
    )


class TestCreating:
    def test_it_stores_a_sam_result_as_a_draft_multipolygon_with_its_metadata(self, cast, image, annotator_client):
        sam = {"prompts": [{"type": "point", "label": 1, "lon": CENTRE[0], "lat": CENTRE[1]}], "score": 0.93,
               "model": "sam2.1_hiera_tiny", "untrained": True}  # fmt: skip
        response = create(annotator_client, cast, image, square(*CENTRE), source="sam", sam=sam)
        assert response.status_code == 201, response.content
        feature = response.json()
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "MultiPolygon"
        props = feature["properties"]
        assert (props["state"], props["version"], props["source"], props["author"]) == ("draft", 1, "sam", "annotator")
        assert props["sam"] == sam
        assert response["ETag"] == '"1"'

    def test_its_area_is_the_geodesic_area_in_square_metres(self, cast, image, annotator_client):
        from django.db import connection

        response = create(annotator_client, cast, image, square(*CENTRE))
        area = response.json()["properties"]["area_m2"]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ST_Area(geometry::geography) FROM annotator_annotation WHERE id = %s", [response.json()["id"]]
            )
            postgis_area = cursor.fetchone()[0]
        # a 0.001° square at 47°N: about 111 m x 76 m
        assert area == pytest.approx(postgis_area, rel=1e-6)
        assert 8_000 < area < 9_000

    def test_it_clips_a_polygon_that_overhangs_the_image(self, cast, image, annotator_client):
        west, south = FOOTPRINT[0], FOOTPRINT[1]
        response = create(annotator_client, cast, image, square(west, south + 0.01, half=0.001))
        assert response.status_code == 201
        minx, _, maxx, _ = response.json()["bbox"] if "bbox" in response.json() else _extent(response.json())
        assert minx == pytest.approx(west)
        assert maxx == pytest.approx(west + 0.001)

    @pytest.mark.parametrize(
        ("geometry", "reason"),
        [
            (
                {
                    "type": "Polygon",
                    "coordinates": [
                        [[-98.691, 47.011], [-98.689, 47.009], [-98.689, 47.011], [-98.691, 47.009], [-98.691, 47.011]]
                    ],
                },
                "not valid: Self-intersection",
            ),
            ({"type": "Polygon", "coordinates": []}, "empty"),
            ({"type": "Point", "coordinates": [-98.69, 47.01]}, "Polygon or MultiPolygon, not a Point"),
            (square(-98.5, 47.01), "outside the image"),
            (square(500, 47.01), "longitude, latitude"),
            ({"type": "Polygon", "coordinates": "nope"}, "not readable"),
            ("POLYGON((0 0, 1 0, 1 1, 0 0))", "GeoJSON"),
        ],
    )
    def test_it_refuses_a_bad_geometry_with_the_reason(self, cast, image, annotator_client, geometry, reason):
        response = create(annotator_client, cast, image, geometry)
        assert response.status_code == 400
        assert reason in response.json()["detail"]
        assert response.json()["field"] == "geometry"
        assert image.annotations.count() == 0

    def test_it_refuses_more_vertices_than_the_limit(self, cast, image, annotator_client, settings):
        import math

        settings.MAX_ANNOTATION_VERTICES = 100
        ring = [[CENTRE[0] + 0.001 * math.cos(t / 50), CENTRE[1] + 0.001 * math.sin(t / 50)] for t in range(314)]
        response = create(annotator_client, cast, image, {"type": "Polygon", "coordinates": [[*ring, ring[0]]]})
        assert response.status_code == 400
        assert "the limit is 100" in response.json()["detail"]

    def test_it_refuses_an_image_of_another_project(self, cast, annotator_client):
        from tests.support.workflow import make_image

        elsewhere = make_image(cast.other_project)
        response = create(annotator_client, cast, elsewhere, square(*CENTRE))
        assert response.status_code == 400
        assert response.json()["field"] == "image"


class TestAttributes:
    def test_values_matching_the_class_definitions_are_kept(self, cast, image, building, annotator_client):
        attributes = {"roof": "gabled", "storeys": 2, "note": "barn", "occupied": False}
        response = create(
            annotator_client, cast, image, square(*CENTRE), label_class=building.pk, attributes=attributes
        )
        assert response.status_code == 201, response.content
        assert response.json()["properties"]["attributes"] == attributes
        assert response.json()["properties"]["label_class_name"] == "building"

    @pytest.mark.parametrize(
        ("attributes", "reason"),
        [
            ({"roof": "thatched"}, "one of ['flat', 'gabled']"),
            ({"roof": "flat", "storeys": "two"}, "'storeys' must be a number"),
            ({"roof": "flat", "occupied": "yes"}, "'occupied' must be a boolean"),
            ({"roof": "flat", "colour": "red"}, "Unknown attribute(s) for class 'building': colour"),
        ],
    )
    def test_values_that_do_not_match_are_refused(self, cast, image, building, annotator_client, attributes, reason):
        response = create(
            annotator_client, cast, image, square(*CENTRE), label_class=building.pk, attributes=attributes
        )
        assert response.status_code == 400
        assert reason in response.json()["detail"]

    def test_owners_define_attributes_on_label_classes(self, cast, client_for):
        url = f"/api/v1/projects/{cast.project.pk}/label-classes/"
        good = [{"name": "crop", "type": "choice", "choices": ["wheat", "canola"], "required": True}]
        created = client_for(cast.owner).post(url, {"name": "field", "attributes": good}, format="json")
        assert created.status_code == 201, created.content
        assert created.json()["attributes"] == good
        bad = client_for(cast.owner).post(url, {"name": "pond", "attributes": [{"name": "x", "type": "colour"}]},
                                          format="json")  # fmt: skip
        assert bad.status_code == 400
        assert "type 'colour'" in str(bad.json())


class TestListing:
    def test_it_returns_a_paginated_feature_collection(self, cast, make_annotation, client_for):
        for i in range(3):
            make_annotation(cast.annotator, geometry=square(CENTRE[0] + 0.002 * i, CENTRE[1]))
        body = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/annotations/", {"page_size": 2}).json()
        assert body["type"] == "FeatureCollection"
        assert body["count"] == 3
        assert len(body["features"]) == 2
        assert "page=2" in body["next"]

    def test_it_filters_by_image_bbox_state_class_and_author(
        self,
        cast,
        image,
        building,
        make_annotation,
        client_for,
    ):
        from annotator.workflow import annotations
        from tests.support.workflow import make_image

        west = make_annotation(cast.annotator, geometry=square(CENTRE[0] - 0.005, CENTRE[1]))
        east = make_annotation(cast.reviewer, state="submitted", geometry=square(CENTRE[0] + 0.005, CENTRE[1]))
        labelled = annotations.create_annotation(
            image, cast.owner, square(*CENTRE), label_class_id=building.pk, attributes={"roof": "flat"}
        )
        second_image = make_image(cast.project, "second.tif")
        other = make_annotation(cast.annotator, on=second_image)
        client = client_for(cast.viewer)

        def ids(**params):
            response = client.get(f"/api/v1/projects/{cast.project.pk}/annotations/", params)
            assert response.status_code == 200, response.content
            return sorted(f["id"] for f in response.json()["features"])

        assert ids(image=image.pk) == sorted([west.pk, east.pk, labelled.pk])
        assert ids(image=second_image.pk) == [other.pk]
        assert ids(image=image.pk, bbox=f"{CENTRE[0] - 0.006},47.0,{CENTRE[0] - 0.004},47.02") == [west.pk]
        assert ids(state="submitted") == [east.pk]
        assert ids(label_class=building.pk) == [labelled.pk]
        assert ids(author="reviewer") == [east.pk]

    def test_a_malformed_bbox_is_refused(self, cast, client_for):
        response = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/annotations/", {"bbox": "1,2,3"})
        assert response.status_code == 400
        assert response.json()["field"] == "bbox"


def _extent(feature: dict) -> tuple[float, float, float, float]:
    xs = [x for polygon in feature["geometry"]["coordinates"] for ring in polygon for x, _ in ring]
    ys = [y for polygon in feature["geometry"]["coordinates"] for ring in polygon for _, y in ring]
    return min(xs), min(ys), max(xs), max(ys)


def test_an_owner_creates_an_assigned_area_without_an_assignee(cast, client_for, image):
    from tests.support.workflow import square

    response = client_for(cast.owner).post(
        f"/api/v1/projects/{cast.project.pk}/areas/",
        {"image": image.pk, "geometry": square(*CENTRE, half=0.002), "name": "north block"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["properties"]["assignee"] is None
