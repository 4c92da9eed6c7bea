"""An upload cut off by a killed web process leaves a temporary file; the next start sweeps it.

Runs the real web server (gunicorn with ``backend.wsgi``) on the test database, streams
part of a large upload to it, SIGKILLs it mid-upload (as gunicorn's timeout or the OOM
killer would) and starts it again. Marked ``worker``: it starts real server processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import test_database_url, wait_until
from tests.support.rasters import REPO

MIB = 1024 * 1024


@pytest.fixture
def temp_root(settings, tmp_path, monkeypatch) -> Path:
    """An empty ``TEMP_DIR`` of this test's own, for this process and the servers it starts."""
    root = tmp_path / "app-temp"
    settings.TEMP_DIR = settings.FILE_UPLOAD_TEMP_DIR = str(root)
    monkeypatch.setenv("GEOPROMPT_TEMP_DIR", str(root))
    return root


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebServer:
    """``gunicorn backend.wsgi`` with one worker, bound to the test database and storage."""

    def __init__(self, storage_root: Path, log_path: Path):
        self.port = _free_port()
        self.storage_root = storage_root
        self.log_path = log_path

    def start(self) -> None:
        env = {
            **os.environ,
            "GEOPROMPT_DATABASE_URL": test_database_url(),
            "GEOPROMPT_STORAGE_URL": str(self.storage_root),
            # No model to build at start: the decoder preload just logs that there is no checkpoint.
            "GEOPROMPT_SAM2_ALLOW_UNTRAINED": "false",
            "GEOPROMPT_SAM2_CHECKPOINT_DIR": str(self.log_path.parent / "no-checkpoints"),
        }
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [gunicorn, "backend.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--timeout", "300"],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # The port opens before the worker has imported the app; a page answers only after.
        if not wait_until(self._answers, interval_s=0.5) or self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn did not start; log:\n{self.log_path.read_text()[-4000:]}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/login/", timeout=5) as response:
                return response.status == 200
        except OSError:
            return self.proc.poll() is not None

    def kill(self) -> None:
        """SIGKILL master and worker, as a crash would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()


def _start_upload(port: int, path: str, token: str, total_bytes: int, sent_bytes: int) -> socket.socket:
    """Send the headers and the first ``sent_bytes`` of a ``total_bytes`` multipart GeoTIFF upload."""
    boundary = "geoprompt-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scene.tif"\r\n'
        "Content-Type: image/tiff\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + total_bytes + len(tail)}\r\n\r\n"
    ).encode()
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(request + head)
    chunk = b"\x00" * MIB
    for _ in range(sent_bytes // MIB):
        connection.sendall(chunk)
    return connection


def _uploads(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.upload.tif")) if folder.exists() else []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_web_process_leaves_its_upload_and_the_next_start_sweeps_it(cast, storage_root, temp_root, tmp_path):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=cast.owner).key
    server = WebServer(storage_root, tmp_path / "web.log")
    server.start()
    try:
        connection = _start_upload(
            server.port, f"/api/v1/projects/{cast.project.pk}/images/", token, total_bytes=31 * MIB, sent_bytes=11 * MIB
        )
        assert wait_until(lambda: _uploads(temp_root) and _uploads(temp_root)[0].stat().st_size >= 10 * MIB), (
            server.log_path.read_text()[-3000:]
        )
    finally:
        server.kill()
    connection.close()
    left = _uploads(temp_root)
    assert len(left) == 1, "a killed process cannot delete its temporary upload"
    print(f"\nleft behind by the killed server: {left[0].name}, {left[0].stat().st_size / MIB:.1f} MiB")

    # Make it an hour old; another upload file stays recent, as a live process's would be.
    an_hour_ago = time.time() - 3700
    os.utime(left[0], (an_hour_ago, an_hour_ago))
    recent = temp_root / "tmprecent.upload.tif"
    recent.write_bytes(b"\x00" * 1024)

    again = WebServer(storage_root, tmp_path / "web-again.log")
    again.start()  # returns once the app answers, after backend.wsgi's start-up sweep
    try:
        assert not left[0].exists(), again.log_path.read_text()[-3000:]
        assert _uploads(temp_root) == [recent]
    finally:
        again.kill()


def test_a_refused_upload_leaves_no_temporary_file(cast, client_for, temp_root, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MAX_UPLOAD_BYTES = 3 * MIB
    response = client_for(cast.owner).post(
        f"/api/v1/projects/{cast.project.pk}/images/",
        {"file": SimpleUploadedFile("scene.tif", b"\x00" * (5 * MIB))},
        format="multipart",
    )
    assert response.status_code == 413, response.content
    assert temp_root.exists(), "uploads are received in the app's temporary folder"
    assert list(temp_root.iterdir()) == []
