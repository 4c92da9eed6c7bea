"""Lists take any limit and offset without a server error: pages are bounded, offsets clamped."""

from __future__ import annotations

import pytest

HUGE = str(2**63)


@pytest.mark.parametrize("collection", ["members", "exports", "jobs", "images"])
def test_a_limit_or_offset_beyond_bigint_gives_a_bounded_page(cast, client_for, collection):
    client = client_for(cast.owner)
    url = f"/api/v1/projects/{cast.project.pk}/{collection}/"
    response = client.get(url, {"limit": HUGE})
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) <= 1000
    response = client.get(url, {"offset": HUGE})
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


def test_members_are_paged_by_at_most_1000(cast, client_for):
    body = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/members/", {"limit": 5000}).json()
    assert body["count"] == 4
    assert len(body["results"]) == 4
