"""Real processes started by tests: Celery workers bound to the test database, and state waits."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.support.rasters import REPO

# Upper bound for any wait on a state in the suite, in seconds. Waits end as soon as the
# state is reached; the bound only turns a hang into a failure, so it is generous enough
# for a loaded 2-core machine (GEOPROMPT_TEST_WAIT_S raises it further).
STATE_WAIT_S = float(os.environ.get("GEOPROMPT_TEST_WAIT_S", "300"))


def wait_until(predicate: Callable[[], object], timeout_s: float = STATE_WAIT_S, interval_s: float = 0.2) -> bool:
    """Poll ``predicate`` every ``interval_s`` seconds until it is true or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return False


class WorkerProcess:
    """A real ``celery worker`` process bound to the test database and a storage root."""

    def __init__(
        self,
        db_url: str,
        storage_root: Path | str,
        log_path: Path,
        queues: str = "default,encode",
        pool: str = "solo",
        env: dict[str, str] | None = None,
    ):
        """``pool``: ``solo`` runs jobs in the worker's main process, ``prefork`` in one child (as scripts/run.sh).

        ``storage_root``: a local folder or an ``s3://bucket/prefix`` URL; ``env``: more
        environment for the process (an S3 endpoint, its own temporary folder).
        """
        self.db_url = db_url
        self.storage_root = storage_root
        self.log_path = log_path
        self.queues = queues
        self.pool = pool
        self.extra_env = env or {}
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
            **self.extra_env,
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
                f"--pool={self.pool}",
                "--concurrency=1",
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
        ready = wait_until(lambda: b"ready." in self.log_path.read_bytes() or self.proc.poll() is not None)
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


class Workers:
    """One worker per queue: ``default`` (ingest, exports, imports) and ``encode`` (SAM2)."""

    def __init__(self, default: WorkerProcess, encode: WorkerProcess):
        self.default = default
        self.encode = encode

    def start(self) -> None:
        self.default.start()
        self.encode.start()

    def stop(self) -> None:
        self.default.stop()
        self.encode.stop()

    def log_tail(self, chars: int = 3000) -> str:
        """The end of both workers' logs, for assertion messages."""
        return "\n".join(
            f"--- {w.queues} worker\n{w.log_path.read_text(errors='replace')[-chars:]}"
            for w in (self.default, self.encode)
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackService:
    """A server process on a free loopback port, started by a test and waited for by its answer.

    Subclasses give the ``command`` and the path that answers 200 once the server is up.
    """

    name = "service"
    health_path = "/"

    def __init__(self, log_path: Path, env: dict[str, str] | None = None):
        self.log_path = log_path
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            return True
        try:
            with urllib.request.urlopen(f"{self.url}{self.health_path}", timeout=1) as response:  # noqa: S310 - loopback
                return response.status == 200
        except OSError:
            return False

    def start(self) -> str:
        """Start it and wait until it answers; returns its base URL."""
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command(),
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_until(self._answers) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"the {self.name} did not start:\n{self.log_path.read_text()[-3000:]}")
        return self.url

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "log", None):
            self.log.close()


class TilerProcess(LoopbackService):
    """``uvicorn backend.tiler:app`` with the environment it is given.

    The tiler checks each tile token's holder is still a member of the project, so it is
    given the test database's URL (tests commit their rows, the tiler sees them).
    """

    name = "tiler"
    health_path = "/healthz"

    def __init__(self, env: dict[str, str], log_path: Path):
        super().__init__(log_path, env)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "backend.tiler:app", "--host", "127.0.0.1", "--port", str(self.port)]
