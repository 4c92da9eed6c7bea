"""Shared cast and real services for the suite.

The cast (healthchecks style): an ``owner``, a ``reviewer``, an ``annotator`` and a
``viewer`` of one project, a ``stranger`` who owns another project, and ``anonymous``.
Tests talk to the real PostgreSQL+PostGIS and Redis; ``celery_worker`` starts a real
Celery worker process against the test database.
"""

from __future__ import annotations

import os

import pytest

from tests.support.processes import WorkerProcess, Workers, test_database_url, wait_until
from tests.support.rasters import data_file
from tests.support.workflow import make_image

# pytest-django reads the settings before this file is imported, so environment defaults
# set here would not reach the test process: scripts/test.sh exports them instead.

PERSONAS = ("owner", "reviewer", "annotator", "viewer")


def pytest_collection_modifyitems(config, items):
    """With ``GEOPROMPT_TEST_SHARD=i/n`` (scripts/test.sh), keep only this shard's files."""
    spec = os.environ.get("GEOPROMPT_TEST_SHARD")
    if not spec:
        return
    from tests.support.shards import select

    keep = select([item.nodeid for item in items], spec)
    config.hook.pytest_deselected(items=[item for item, k in zip(items, keep, strict=True) if not k])
    items[:] = [item for item, k in zip(items, keep, strict=True) if k]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database of this run's own (``test_geoprompt_p<pid>``), so that two runs on one
    machine never drop each other's database."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"p{os.getpid()}")


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
    # The cast submits bare outlines; the label rule (on by default) is tested where a test
    # turns it on (tests/workflow/test_label_classes.py, tests/workflow/test_label_rules.py).
    c.project = Project.objects.create(name="Prairie fields", require_label=False)
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


@pytest.fixture
def ingested_image(cast):
    """A factory: ingest a reference raster synchronously and return its Image row."""
    from annotator.imagery import ingest as imagery
    from annotator.models import Image
    from annotator.storage import get_storage

    def make(name: str = "naip_rgbn_utm14_2020.tif", project=None):
        image = Image.objects.create(project=project or cast.project, name=name, uploaded_by=cast.owner)
        image.original_key = f"{image.storage_prefix}/original.tif"
        get_storage().put_file(data_file(name), image.original_key)
        image.save()
        return imagery.ingest_image(image)

    return make


@pytest.fixture
def celery_worker(transactional_db, storage_root, tmp_path):
    """Start real Celery workers, one per queue, so that an export never waits behind an encode.

    Yields the :class:`~tests.support.processes.Workers` pair (``default`` and ``encode``).
    """
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    if client.connection_pool.connection_kwargs.get("db", 0) == 0:
        pytest.fail("GEOPROMPT_REDIS_URL points at Redis database 0; run the suite with scripts/test.sh (database 15)")
    client.flushdb()
    workers = Workers(
        default=WorkerProcess(test_database_url(), storage_root, tmp_path / "worker-default.log", queues="default"),
        encode=WorkerProcess(test_database_url(), storage_root, tmp_path / "worker-encode.log", queues="encode"),
    )
    workers.start()
    yield workers
    workers.stop()


@pytest.fixture
def start_worker(transactional_db, storage_root, tmp_path, monkeypatch, settings):
    """A factory of real Celery workers (queues default and encode, one window per encoder
    call) on this test's broker and database, each with its own environment on top; all are
    stopped at the end. For tests that stop, kill and restart workers themselves."""
    import redis

    settings.SAM2_ALLOW_UNTRAINED = True
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    monkeypatch.setenv("GEOPROMPT_REDIS_URL", settings.CELERY_BROKER_URL)
    monkeypatch.setenv("GEOPROMPT_SAM2_ALLOW_UNTRAINED", "true")
    monkeypatch.setenv("GEOPROMPT_SAM2_BATCH_SIZE", "1")
    workers: list[WorkerProcess] = []

    def start(pool: str = "prefork", **env: str) -> WorkerProcess:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        worker = WorkerProcess(test_database_url(), storage_root, tmp_path / f"worker{len(workers)}.log", pool=pool)
        workers.append(worker)
        worker.start()
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def wait_for():
    return wait_until


@pytest.fixture
def image(cast):
    """A ready image of the cast's project with a footprint (EPSG:4326)."""
    return make_image(cast.project)
