"""Clicks on an image still encoding: their windows first, once each; assigned areas before the rest.

One real worker (the root conftest's ``start_worker``), started after the clicks are
waiting, on a 2,048 x 1,024 px image (three windows at level 0, one at level 1); the
untrained tiny model.
"""

from __future__ import annotations

import threading

import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection

from annotator.choices import ImageStatus, JobKind, JobStatus
from annotator.models import AssignedArea, EncodeRequest, FeatureTile, Image, Job
from annotator.sam2 import encoding
from tests.support.exports import pixel_to_4326
from tests.support.processes import STATE_WAIT_S
from tests.support.sam2 import ingest_file, resampled_raster

pytestmark = [pytest.mark.worker, pytest.mark.sam2, pytest.mark.timeout(600)]


def window_ids(rows) -> list[tuple[int, int, int]]:
    return [(t.level, t.row_off, t.col_off) for t in rows]


def test_clicks_on_an_unencoded_window_encode_just_its_windows_once_then_areas_then_the_rest(
    start_worker, cast, client_for, tmp_path, settings, wait_for
):
    image = ingest_file(cast.project, cast.owner, resampled_raster(tmp_path / "strip.tif", 2048, 1024))
    plan = window_ids(encoding.image_windows(image))
    assert plan == [(0, 0, 0), (0, 0, 768), (0, 0, 1024), (1, 0, 0)]
    assert image.status == ImageStatus.READY  # ingest queued the encode job; no worker runs it yet
    # An area over the right end: only the last level-0 window (and the level-1 one) overlaps it.
    area = pixel_to_4326(image, shapely.box(1850, 100, 2000, 900))
    AssignedArea.objects.create(
        project=cast.project, image=image, geometry=GEOSGeometry(area.wkt, srid=4326), assignee=cast.annotator
    )

    # Two annotators click the same point at the left end at once; the click path waits on
    # the FeatureTile rows (bounded by the suite's state wait).
    settings.SAM2_ON_DEMAND_WAIT_S = STATE_WAIT_S
    click = {"positive": [list(pixel_to_4326(image, shapely.Point(100.5, 500.5)).coords[0])]}
    answers: list = [None, None]

    def segment(index: int, user) -> None:
        try:
            answers[index] = client_for(user).post(f"/api/v1/images/{image.pk}/segment", click, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=segment, args=(i, u)) for i, u in enumerate((cast.annotator, cast.owner))]
    for thread in threads:
        thread.start()
    # Both clicks asked for the same two windows: one row each, however the requests raced.
    assert wait_for(lambda: EncodeRequest.objects.filter(image=image).count() == 2, interval_s=0.05)
    start_worker()
    for thread in threads:
        thread.join(STATE_WAIT_S)
    stored_when_answered = set(FeatureTile.objects.filter(image=image).values_list("level", "row_off", "col_off"))

    for response in answers:
        assert response.status_code == 200, response.content
        properties = response.json()["properties"]
        assert (properties["level"], properties["window"]["col_off"]) in {(0, 0), (1, 0)}
    # Just what the click needs: the finest window holding it and the level-1 window above it.
    assert stored_when_answered == {(0, 0, 0), (1, 0, 0)}

    job = Job.objects.get(kind=JobKind.ENCODE, target_id=image.pk)
    assert wait_for(lambda: Job.objects.get(pk=job.pk).is_finished)
    order = window_ids(FeatureTile.objects.filter(image=image).order_by("id"))
    # The clicks' windows, then the area's, then the rest in plan order.
    assert order == [(0, 0, 0), (1, 0, 0), (0, 0, 1024), (0, 0, 768)]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert Image.objects.get(pk=image.pk).status == ImageStatus.ENCODED
    assert "(4 encoded, 0 already stored)" in job.message  # each window encoded once, by one job
    assert not EncodeRequest.objects.filter(image=image).exists()
