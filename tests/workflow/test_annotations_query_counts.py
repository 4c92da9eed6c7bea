"""Query-count baselines: listing 5,000 annotations costs no more queries than listing 5."""

from __future__ import annotations

import random

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.workflow import CENTRE, building, fast_passwords, image  # noqa: F401

LIST_QUERIES = 6  # session, user, project, membership, count, page


def bulk_annotations(cast, image, label_class, n: int, seed: int = 5) -> None:  # noqa: F811
    """``n`` small square annotations (EPSG:4326) in every state, spread over the image, with versions."""
    from django.contrib.gis.geos import MultiPolygon, Polygon

    from annotator.models import Annotation, AnnotationVersion

    rng = random.Random(seed)
    people = [cast.owner, cast.reviewer, cast.annotator]
    states = ["draft", "submitted", "approved", "rejected"]
    rows = []
    for i in range(n):
        x = CENTRE[0] + rng.uniform(-0.009, 0.009)
        y = CENTRE[1] + rng.uniform(-0.009, 0.009)
        polygon = Polygon.from_bbox((x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4))
        rows.append(
            Annotation(
                project=cast.project,
                image=image,
                label_class=label_class if i % 2 else None,
                author=people[i % 3],
                geometry=MultiPolygon(polygon, srid=4326),
                area_m2=170.0,
                state=states[i % 4],
                attributes={"roof": "flat"} if i % 2 else {},
            )
        )
    created = Annotation.objects.bulk_create(rows, batch_size=2000)
    AnnotationVersion.objects.bulk_create(
        [
            AnnotationVersion(
                annotation=a, version=1, action="created", user=a.author, geometry=a.geometry, state=a.state
            )
            for a in created
        ],
        batch_size=2000,
    )


def count_list_queries(client, cast, **params) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/projects/{cast.project.pk}/annotations/", params)
    assert response.status_code == 200
    return len(queries), response.json()


def test_listing_5000_annotations_costs_as_many_queries_as_listing_5(cast, image, building, client_for):  # noqa: F811
    client = client_for(cast.viewer)
    bulk_annotations(cast, image, building, 5)
    few, body = count_list_queries(client, cast, image=image.pk)
    assert body["count"] == 5

    bulk_annotations(cast, image, building, 4995, seed=6)
    many, body = count_list_queries(client, cast, image=image.pk, page_size=1000)
    assert body["count"] == 5000
    assert len(body["features"]) == 1000

    assert many == few
    assert few <= LIST_QUERIES


def test_filtered_lists_cost_the_same_number_of_queries(cast, image, building, client_for):  # noqa: F811
    client = client_for(cast.viewer)
    bulk_annotations(cast, image, building, 500)
    plain, _ = count_list_queries(client, cast)
    filtered, body = count_list_queries(
        client, cast, image=image.pk, state="approved", author="annotator",
        bbox=f"{CENTRE[0] - 0.01},{CENTRE[1] - 0.01},{CENTRE[0] + 0.01},{CENTRE[1] + 0.01}",
    )  # fmt: skip
    assert filtered == plain
    assert body["count"] > 0
    assert all(f["properties"]["state"] == "approved" for f in body["features"])
