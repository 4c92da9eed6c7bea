"""Machines that share no disk: web, workers and tiler share only PostgreSQL, Redis and S3.

Every process here gets the same ``s3://`` storage URL (a real S3-compatible server process
on loopback) and its own empty local folder for temporary files, and nothing else in
common on disk. The whole path runs through them: upload (web) → ingest (default worker) →
encode (encode worker) → tiles (tiler, reading the COG through GDAL's /vsis3/) → a click
(web, reading the cached features) → review → export (default worker) → download (web).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import morecantile
import pytest
import shapely
from shapely.geometry import shape

from annotator.choices import ImageStatus, JobStatus
from annotator.models import FeatureTile, Image, Job
from annotator.storage import get_storage
from tests.support.processes import TilerProcess, WorkerProcess, Workers, test_database_url, wait_until
from tests.support.s3 import CREDENTIALS, S3Server
from tests.support.sam2 import resampled_raster

pytestmark = [pytest.mark.worker, pytest.mark.sam2, pytest.mark.timeout(900)]

BUCKET = "geoprompt"
STORAGE_URL = f"s3://{BUCKET}/deployment"


def files_under(folder: Path) -> list[str]:
    """Every file (not folder) under ``folder``, relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def s3_server(tmp_path):
    server = S3Server(tmp_path / "s3.log")
    server.start()
    server.create_bucket(BUCKET)
    yield server
    server.stop()


@pytest.fixture
def deployment(transactional_db, s3_server, settings, monkeypatch, tmp_path):
    """Web (this process), two workers and a tiler, each with its own empty local folder.

    Returns a namespace with ``workers``, ``tiler_url`` and ``local`` (process name → folder).
    """
    import redis

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    local = {name: tmp_path / name for name in ("web", "worker-default", "worker-encode", "tiler")}
    for folder in local.values():
        folder.mkdir()
    settings.STORAGE_URL = STORAGE_URL
    settings.S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.TEMP_DIR = str(local["web"])
    settings.SAM2_ALLOW_UNTRAINED = True
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()

    def env_for(name: str) -> dict[str, str]:
        return {
            **CREDENTIALS,
            "GEOPROMPT_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "GEOPROMPT_TEMP_DIR": str(local[name]),
            "GEOPROMPT_SAM2_ALLOW_UNTRAINED": "true",
        }

    db_url = test_database_url()
    workers = Workers(
        default=WorkerProcess(
            db_url, STORAGE_URL, tmp_path / "default.log", queues="default", env=env_for("worker-default")
        ),
        encode=WorkerProcess(
            db_url, STORAGE_URL, tmp_path / "encode.log", queues="encode", env=env_for("worker-encode")
        ),
    )
    tiler = TilerProcess(
        {**env_for("tiler"), "GEOPROMPT_STORAGE_URL": STORAGE_URL, "GEOPROMPT_DATABASE_URL": db_url},
        tmp_path / "tiler.log",
    )
    workers.start()
    settings.TILER_URL = tiler.start()

    class Deployment:
        pass

    d = Deployment()
    d.workers, d.tiler, d.local = workers, tiler, local
    yield d
    tiler.stop()
    workers.stop()


def test_upload_ingest_encode_tiles_click_and_export_work_with_only_s3_in_common(
    deployment, cast, client_for, tmp_path
):
    owner, annotator, reviewer = client_for(cast.owner), client_for(cast.annotator), client_for(cast.reviewer)
    raster = resampled_raster(tmp_path / "fields.tif", 900, 700)

    # Upload through the web process; ingest and encode happen on the two workers.
    with open(raster, "rb") as fh:
        response = owner.post(f"/api/v1/projects/{cast.project.pk}/images/", {"file": fh}, format="multipart")
    assert response.status_code == 201, response.content
    image_id = response.json()["id"]
    finished = wait_until(lambda: Image.objects.get(pk=image_id).status in (ImageStatus.ENCODED, ImageStatus.FAILED))
    image = Image.objects.get(pk=image_id)
    assert finished and image.status == ImageStatus.ENCODED, f"{image.error}\n{deployment.workers.log_tail()}"

    # Everything the image has lives in the bucket, under the storage URL's prefix.
    keys = get_storage().list_keys(image.storage_prefix)
    tiles = list(FeatureTile.objects.filter(image=image))
    assert image.original_key in keys and image.cog_key in keys
    assert tiles and {t.storage_key for t in tiles} <= set(keys)

    # The tiler reads the COG from S3: a tile at the image's centre is a PNG.
    template = annotator.get(f"/api/v1/images/{image_id}/").json()["tiles"]["url_template"]
    centre = image.footprint.centroid
    tile = morecantile.tms.get("WebMercatorQuad").tile(centre.x, centre.y, 15)
    png = httpx.get(template.format(z=tile.z, x=tile.x, y=tile.y), timeout=60)
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"

    # A click in the web process reads the cached features from S3 and returns an outline.
    click = annotator.post(
        f"/api/v1/images/{image_id}/segment", {"positive": [[centre.x, centre.y]], "max_vertices": 2000}, format="json"
    )
    assert click.status_code == 200, click.content
    outline = click.json()["geometry"]
    assert outline is not None and shape(outline).intersects(shapely.Point(centre.x, centre.y).buffer(1e-3))

    # Annotate, submit, approve, then export on the default worker and download from the web.
    created = annotator.post(
        f"/api/v1/projects/{cast.project.pk}/annotations/", {"image": image_id, "geometry": outline}, format="json"
    )
    assert created.status_code == 201, created.content
    annotation = created.json()
    annotation_id = annotation.get("id") or annotation["properties"]["id"]
    submitted = annotator.post(f"/api/v1/annotations/{annotation_id}/submit/", {}, format="json")
    assert submitted.status_code == 200, submitted.content
    approved = reviewer.post(f"/api/v1/annotations/{annotation_id}/approve/", {}, format="json")
    assert approved.status_code == 200, approved.content
    started = reviewer.post(
        f"/api/v1/projects/{cast.project.pk}/exports/", {"formats": ["gpkg", "coco"]}, format="json"
    )
    assert started.status_code == 202, started.content
    export_id, job_id = started.json()["id"], started.json()["job"]["id"]
    assert wait_until(lambda: Job.objects.get(pk=job_id).is_finished), deployment.workers.log_tail()
    body = reviewer.get(f"/api/v1/exports/{export_id}/").json()
    assert body["status"] == JobStatus.SUCCEEDED, body["job"]
    download = reviewer.get(body["download_url"])
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert "gis/annotations.gpkg" in archive.namelist()
    assert body["counts"]["annotations"] == 1

    # No process kept anything on its own disk: temporary files were all removed.
    assert {name: files_under(folder) for name, folder in deployment.local.items()} == {
        name: [] for name in deployment.local
    }
