"""The job registry: which function runs each kind of job, and on which Celery queue.

NetBox's JobRunner shape: a concept module registers its runner next to the service it
runs (``@jobs.register(JobKind.ENCODE)``); services enqueue by kind and one generic Celery
task (``tasks.jobs.run_job``) runs any Job row through this table. The arrows point one
way: services → jobs and tasks → jobs, never services → tasks.

Which module holds each kind's runner, and the queue its jobs go to, is declared once, in
``AnnotatorConfig.job_runners`` (the composition root). A runner's module is imported
only when a job of its kind runs: enqueueing needs just the queue, so neither the web
process nor the ``default`` worker loads torch for the encode runner (``annotator.sam2``).
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
_import_lock = threading.Lock()


def _declared(kind: str) -> tuple[str, str]:
    """``(module, queue)`` of ``kind`` from ``AnnotatorConfig.job_runners``.

    Raises:
        ImproperlyConfigured: ``kind`` is not declared, or names a queue no worker listens on.
    """
    try:
        module, queue = apps.get_app_config("annotator").job_runners[kind]
    except KeyError:
        raise ImproperlyConfigured(
            f"No runner is declared for {kind!r} jobs; add it to AnnotatorConfig.job_runners."
        ) from None
    if queue not in QUEUES:
        raise ImproperlyConfigured(f"Unknown job queue {queue!r}; the workers listen on {', '.join(QUEUES)}.")
    return module, queue


def queue_for(kind: str) -> str:
    """The Celery queue of ``kind`` jobs, without importing their runner.

    Raises:
        ImproperlyConfigured: an undeclared kind or an unknown queue.
    """
    return _declared(kind)[1]


def register(kind: JobKind) -> Callable[[Work], Work]:
    """Decorator: make ``run`` the runner of ``kind`` jobs (in the module declared for ``kind``).

    Raises:
        ImproperlyConfigured: an undeclared kind, or a second, different runner for ``kind``.
    """
    _module, queue = _declared(kind)

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
    """The runner of ``kind``, importing its module on first use.

    Raises:
        ImproperlyConfigured: ``kind`` is not declared, or its module registers no runner.
    """
    module, _queue = _declared(kind)
    if kind not in _runners:
        with _import_lock:
            importlib.import_module(module)
    try:
        return _runners[kind]
    except KeyError:
        raise ImproperlyConfigured(f"{module} registers no runner for {kind!r} jobs.") from None


def runners() -> dict[str, JobRunner]:
    """Every declared kind's runner (imports every runner module)."""
    return {kind: runner_for(kind) for kind in apps.get_app_config("annotator").job_runners}


def _qualified(run: Work) -> str:
    return f"{run.__module__}.{run.__qualname__}"
