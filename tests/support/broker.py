"""A private Redis broker that a test starts, stops and restarts itself (never the shared one on 6379)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.support.processes import wait_until


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """``redis-server`` on a free port, without persistence; ``stop`` and ``start`` make an outage."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "redis-server"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if not wait_until(self.is_up, timeout_s=20, interval_s=0.05):
            raise RuntimeError(f"redis-server did not start; log:\n{self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if getattr(self, "log", None):
            self.log.close()

    def is_up(self) -> bool:
        with contextlib.suppress(redis.exceptions.ConnectionError):
            return bool(self.client().ping())
        return False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def queue_length(self, queue: str) -> int:
        """Messages waiting in a Celery queue, at every priority.

        kombu keeps one Redis list per priority step: the queue's name for priority 0, then
        the name, kombu's separator and the step for the steps 3, 6 and 9.
        """
        client = self.client()
        return sum(int(client.llen(queue if step == 0 else f"{queue}\x06\x16{step}")) for step in (0, 3, 6, 9))

    def queue_priorities(self, queue: str) -> list[int]:
        """The priority step of each message waiting in ``queue``, in the order they will be served."""
        client = self.client()
        served: list[int] = []
        for step in (0, 3, 6, 9):
            served += [step] * int(client.llen(queue if step == 0 else f"{queue}\x06\x16{step}"))
        return served


@contextlib.contextmanager
def celery_app_at(url: str) -> Iterator[None]:
    """Make a Celery app configured like the project's, but sending to ``url``, current in this thread."""
    from celery import Celery, current_app

    previous = current_app._get_current_object()
    app = Celery("geoprompt-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = url
    app.conf.broker_connection_timeout = 1
    app.set_current()
    try:
        yield
    finally:
        previous.set_current()
        app.close()
