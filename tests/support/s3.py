"""A real S3-compatible server for tests: moto's standalone server, started as a process.

The server is the same HTTP API that boto3, s3fs and GDAL's ``/vsis3/`` speak to AWS; it
keeps objects in its own memory, so nothing of a test lands on the local disk through it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.processes import wait_until
from tests.support.rasters import REPO

# moto accepts any credentials; they must only be present and consistent.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "geoprompt-test",
    "AWS_SECRET_ACCESS_KEY": "geoprompt-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """``python -m moto.server`` on a free loopback port."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            return True
        try:
            with urllib.request.urlopen(self.endpoint_url, timeout=1) as response:  # noqa: S310 - loopback
                return response.status == 200
        except OSError:
            return False

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if not wait_until(self._answers) or self.proc.poll() is not None:
            raise RuntimeError(f"the S3 test server did not start:\n{self.log_path.read_text()[-3000:]}")

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/{name}", method="PUT")  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            assert response.status == 200

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "log", None):
            self.log.close()
