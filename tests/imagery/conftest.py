"""Shared by the imagery tests: one S3-compatible server for the session (resumable uploads, imports)."""

from __future__ import annotations

import pytest

from tests.support.s3 import S3Server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3-compatible server (moto's) with the buckets ``deployment`` (storage) and ``imagery`` (imports)."""
    server = S3Server(tmp_path_factory.mktemp("s3") / "s3.log")
    server.start()
    server.create_bucket("deployment")
    server.create_bucket("imagery")
    yield server
    server.stop()
