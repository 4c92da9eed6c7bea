"""Shared cast and real services for the suite.

The cast (healthchecks style): an ``owner``, a ``reviewer``, an ``annotator`` and a
``viewer`` of one project, a ``stranger`` who owns another project, and ``anonymous``.
Tests talk to the real PostgreSQL+PostGIS and Redis; ``celery_worker`` starts a real
Celery worker process against the test database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# pytest-django reads the settings before this file is imported, so environment defaults
# set here would not reach the test process: scripts/test.sh exports them instead.

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "fixtures" / "rasters"
PERSONAS = ("owner", "reviewer", "annotator", "viewer")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users; the production hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def storage_root(settings, tmp_path_factory):
    """Every test gets its own empty storage root (a local directory)."""
    root = tmp_path_factory.mktemp("storage")
    settings.STORAGE_URL = str(root)
    return root


@pytest.fixture
def make_user(django_user_model):
    def make(username: str):
        return django_user_model.objects.create_user(username=username, password=f"{username}-pw-123")

    return make


@pytest.fixture
def cast(db, make_user):
    """The project and its people: returns a namespace with users and projects."""
    from annotator.choices import Role
    from annotator.models import Membership, Project

    class Cast:
        pass

    c = Cast()
    c.project = Project.objects.create(name="Prairie fields")
    c.other_project = Project.objects.create(name="Someone else's")
    for role in PERSONAS:
        user = make_user(role)
        setattr(c, role, user)
        Membership.objects.create(project=c.project, user=user, role=Role(role))
    c.stranger = make_user("stranger")
    Membership.objects.create(project=c.other_project, user=c.stranger, role=Role.OWNER)
    c.anonymous = None
    return c


@pytest.fixture
def client_for():
    """A DRF API client logged in as ``user`` (session), or anonymous for None."""
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return make


def data_file(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.fail(f"reference raster {path} is missing: fixtures/rasters/ is part of the repository")
    return path


@pytest.fixture
def ingested_image(cast):
    """A factory: ingest a reference raster synchronously and return its Image row."""
    from annotator.models import Image
    from annotator.imagery import ingest as imagery
    from annotator.storage import get_storage

    def make(name: str = "naip_rgbn_utm14_2020.tif", project=None):
        image = Image.objects.create(project=project or cast.project, name=name, uploaded_by=cast.owner)
        image.original_key = f"{image.storage_prefix}/original.tif"
        get_storage().put_file(data_file(name), image.original_key)
        image.save()
        return imagery.ingest_image(image)

    return make


def _wait_for(predicate, timeout_s: float, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return False


class WorkerProcess:
    """A real ``celery worker`` process bound to the test database and a storage root."""

    def __init__(self, db_url: str, storage_root: Path, log_path: Path, queues: str = "default,encode"):
        self.db_url = db_url
        self.storage_root = storage_root
        self.log_path = log_path
        self.queues = queues
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from django.conf import settings

        env = {
            **os.environ,
            "GEOPROMPT_DATABASE_URL": self.db_url,
            "GEOPROMPT_STORAGE_URL": str(self.storage_root),
            "GEOPROMPT_CELERY_EAGER": "false",
            # The worker listens where the test process sends tasks.
            "GEOPROMPT_REDIS_URL": settings.CELERY_BROKER_URL,
        }
        celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                celery,
                "-A",
                "backend",
                "worker",
                "-Q",
                self.queues,
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        ready = _wait_for(lambda: b"ready." in self.log_path.read_bytes() or self.proc.poll() is not None, 90)
        if not ready or self.proc.poll() is not None:
            raise RuntimeError(f"celery worker did not start; log:\n{self.log_path.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the worker's whole process group, as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()


def test_database_url() -> str:
    """A URL for the database pytest-django created, for processes started by a test."""
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


test_database_url.__test__ = False


@pytest.fixture
def celery_worker(transactional_db, storage_root, tmp_path):
    """Start a real Celery worker (queues default and encode); yields the WorkerProcess."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    if client.connection_pool.connection_kwargs.get("db", 0) == 0:
        pytest.fail("GEOPROMPT_REDIS_URL points at Redis database 0; run the suite with scripts/test.sh (database 15)")
    client.flushdb()
    worker = WorkerProcess(test_database_url(), storage_root, tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def wait_for():
    return _wait_for
