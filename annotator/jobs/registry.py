"""The job registry: which function runs each kind of job, and on which Celery queue.

NetBox's JobRunner shape: a concept module registers its runner next to the service it
runs (``@jobs.register(JobKind.ENCODE, queue=ENCODE_QUEUE)``); services enqueue by kind
and one generic Celery task (``tasks.jobs.run_job``) runs any Job row through this table.
The arrows point one way: services → jobs and tasks → jobs, never services → tasks.

Which modules register runners is listed once, in ``AnnotatorConfig.job_runner_modules``
(the composition root). They are imported on the first lookup rather than in ``ready()``,
so that ``manage.py`` commands do not load torch (the encode runner is in ``annotator.sam2``).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from annotator.choices import JobKind
from annotator.models import Job

# Celery queues (``celery worker -Q default,encode``). SAM2 encodes get their own queue so
# that an export or an ingest never waits behind an hour-long encode.
DEFAULT_QUEUE = "default"
ENCODE_QUEUE = "encode"
QUEUES = (DEFAULT_QUEUE, ENCODE_QUEUE)

# The name of the one Celery task that runs every job (defined in tasks/jobs.py).
RUN_JOB_TASK = "tasks.jobs.run_job"

Work = Callable[[Job], "str | None"]


@dataclass(frozen=True)
class JobRunner:
    """How one kind of job runs.

    Attributes:
        kind: the JobKind this runner handles.
        run: called with the Job row (status ``running``); returns an optional final message.
            It may raise ``GeopromptError`` (its message becomes the job's error).
        queue: the Celery queue its task is sent to.
    """

    kind: JobKind
    run: Work
    queue: str


_runners: dict[str, JobRunner] = {}
_discovered = False
_discover_lock = threading.Lock()


def register(kind: JobKind, *, queue: str = DEFAULT_QUEUE) -> Callable[[Work], Work]:
    """Decorator: make ``run`` the runner of ``kind`` jobs, sent to ``queue``.

    Raises:
        ImproperlyConfigured: an unknown queue, or a second, different runner for ``kind``.
    """
    if queue not in QUEUES:
        raise ImproperlyConfigured(f"Unknown job queue {queue!r}; the workers listen on {', '.join(QUEUES)}.")

    def decorate(run: Work) -> Work:
        existing = _runners.get(kind)
        if existing is not None and _qualified(existing.run) != _qualified(run):
            raise ImproperlyConfigured(
                f"{kind} jobs already run through {_qualified(existing.run)}; cannot register {_qualified(run)}."
            )
        _runners[kind] = JobRunner(JobKind(kind), run, queue)
        return run

    return decorate


def runner_for(kind: str) -> JobRunner:
    """The registered runner of ``kind``.

    Raises:
        ImproperlyConfigured: no module registers a runner for ``kind``.
    """
    discover()
    try:
        return _runners[kind]
    except KeyError:
        raise ImproperlyConfigured(
            f"No runner is registered for {kind!r} jobs; add its module to AnnotatorConfig.job_runner_modules."
        ) from None


def runners() -> dict[str, JobRunner]:
    """Every registered runner by kind (after discovery)."""
    discover()
    return dict(_runners)


def discover() -> None:
    """Import the modules that register runners (once per process)."""
    global _discovered
    if _discovered:
        return
    with _discover_lock:
        if not _discovered:
            for name in apps.get_app_config("annotator").job_runner_modules:
                importlib.import_module(name)
            _discovered = True


def _qualified(run: Work) -> str:
    return f"{run.__module__}.{run.__qualname__}"
