"""Query-count baselines: listing 5,000 annotations costs no more queries than listing 5."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.workflow import CENTRE, bulk_annotations

LIST_QUERIES = 6  # session, user, project, membership, count, page


def count_list_queries(client, cast, **params) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/v1/projects/{cast.project.pk}/annotations/", params)
    assert response.status_code == 200
    return len(queries), response.json()


def test_listing_5000_annotations_costs_as_many_queries_as_listing_5(cast, image, building, client_for):
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


def test_filtered_lists_cost_the_same_number_of_queries(cast, image, building, client_for):
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
