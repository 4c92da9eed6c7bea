"""A real S3-compatible server for tests: moto's standalone server, started as a process.

The server is the same HTTP API that boto3, s3fs and GDAL's ``/vsis3/`` speak to AWS; it
keeps objects in its own memory, so nothing of a test lands on the local disk through it.
"""

from __future__ import annotations

import sys
import urllib.request

from tests.support.processes import LoopbackService

# moto accepts any credentials; they must only be present and consistent.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "geoprompt-test",
    "AWS_SECRET_ACCESS_KEY": "geoprompt-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class S3Server(LoopbackService):
    """``python -m moto.server``; its base URL is the S3 endpoint."""

    name = "S3 test server"

    @property
    def endpoint_url(self) -> str:
        return self.url

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.url}/{name}", method="PUT")  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            assert response.status == 200
