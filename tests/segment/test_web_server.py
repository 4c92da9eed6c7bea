"""The web server as deployed (``gunicorn -c backend/gunicorn.conf.py backend.wsgi``) answers clicks.

A real gunicorn with the repository's config file, on the test database and storage: the
application (torch and the decoder included) loaded once in the master and forked into two
workers of one request thread, each taking a connection only while its thread is free, and
closing it after the answer. Concurrent annotators' clicks all come back, each the same
polygon as the same point clicked alone; with the features on local disk, and in an
S3-compatible bucket (a real server process on loopback), whose client the forked workers
must make anew rather than inherit from the master that swept expired uploads at start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rest_framework.authtoken.models import Token

from tests.support.processes import free_port, test_database_url, wait_until
from tests.support.s3 import CREDENTIALS, S3Server
from tests.support.sam2 import encode_cached

pytestmark = [pytest.mark.sam2, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["local", "s3"])
def storage_url(request, storage_root, settings, monkeypatch, tmp_path):
    """The storage of this process and of the web server: a local folder, or a bucket of a real S3 server."""
    if request.param == "local":
        yield str(storage_root), {}
        return
    server = S3Server(tmp_path / "s3.log")
    server.start()
    try:
        server.create_bucket("geoprompt")
        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        settings.STORAGE_URL = "s3://geoprompt/deployment"
        settings.S3_ENDPOINT_URL = server.endpoint_url
        yield settings.STORAGE_URL, {**CREDENTIALS, "GEOPROMPT_S3_ENDPOINT_URL": server.endpoint_url}
    finally:
        server.stop()


@pytest.fixture
def web_server(storage_url, tmp_path):
    url, storage_env = storage_url
    port = free_port()
    env = {
        **os.environ,
        **storage_env,
        "GEOPROMPT_DATABASE_URL": test_database_url(),
        "GEOPROMPT_STORAGE_URL": url,
        "GEOPROMPT_SAM2_ALLOW_UNTRAINED": "true",
        "GEOPROMPT_TEMP_DIR": str(tmp_path / "web-temp"),
        "GEOPROMPT_WEB_BIND": f"127.0.0.1:{port}",
        "GEOPROMPT_WEB_WORKERS": "2",
    }
    (tmp_path / "web-temp").mkdir()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    log_path = tmp_path / "web.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [gunicorn, "-c", "backend/gunicorn.conf.py", "backend.wsgi"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as response:
                return response.status == 200
        except OSError:
            return proc.poll() is not None

    try:
        assert wait_until(answers, interval_s=0.5) and proc.poll() is None, log_path.read_text()[-4000:]
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(60)


def click(base_url: str, image, token: str, point: list[float]) -> tuple[int, dict, str]:
    body = json.dumps({"positive": [point], "crs": f"EPSG:{image.epsg}"}).encode()
    request = urllib.request.Request(  # noqa: S310 - the test's server on loopback
        f"{base_url}/api/v1/images/{image.pk}/segment",
        data=body,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - the test's server on loopback
        return response.status, json.loads(response.read()), response.headers.get("Connection", "")


def test_the_deployed_server_answers_concurrent_clicks_as_it_answers_one(cast, ingested_image, web_server):
    proc, base_url = web_server
    image = encode_cached(ingested_image())
    token = Token.objects.create(user=cast.annotator).key
    to_crs = Affine.from_gdal(*image.geotransform)
    rng = np.random.default_rng(3)
    points = [list(to_crs @ (float(c), float(r))) for c, r in rng.uniform([80, 80], [850, 640], size=(4, 2))]

    alone = [click(base_url, image, token, point) for point in points]
    assert all(status == 200 for status, _, _ in alone)
    # No keep-alive: the next click goes to whichever worker is free.
    assert all(connection.lower() == "close" for _, _, connection in alone)

    together: list = [None] * (3 * len(points))

    def annotator(i: int) -> None:
        together[i] = click(base_url, image, token, points[i % len(points)])

    threads = [threading.Thread(target=annotator, args=(i,)) for i in range(len(together))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, (status, feature, _) in enumerate(together):
        assert status == 200
        assert feature["geometry"] == alone[i % len(points)][1]["geometry"]

    # Preloaded: the master holds torch's library, which its workers share.
    workers = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert len(workers) == 2
    assert "libtorch_cpu" in Path(f"/proc/{proc.pid}/maps").read_text()
