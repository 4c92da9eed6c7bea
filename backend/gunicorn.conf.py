"""gunicorn settings of the web process, from the environment (``gunicorn -c backend/gunicorn.conf.py backend.wsgi``).

Why these defaults (measured by ``bench/segment.py``; figures in ``bench/results/``): a
click is ~75 ms of CPU, most of it in torch (one thread per process,
:mod:`annotator.sam2.threads`) and the rest under the process's interpreter lock. What
keeps the slowest clicks fast under load is that a click goes to a process with a free
thread, not one that is already decoding:

- ``worker_connections`` = ``threads``: a process accepts a connection only when one of
  its threads is free; the others wait in the kernel's queue for whichever process frees
  first (one shared queue instead of one per process);
- ``keepalive`` 0: each request is a connection of its own, so an idle browser connection
  never holds a thread nor pins its next click to a busy process;
- ``workers`` = cores + 1 with one thread each: a second request thread in a process only
  waits for that process's lock (and the decoder it already runs), while one more process
  than cores lets a process read the next request while the others decode. The threaded
  worker class keeps a heartbeat apart from the request, so a long upload chunk is not
  killed by ``timeout``; it does hold its process meanwhile: raise the workers where many
  upload at once, or put a buffering proxy (nginx) in front.

On 2 cores, 30 annotators clicking every 2 s, 60 s runs in one bench run: p95 296 ms like
this, 346 ms with 2 processes of 2 threads, 471 ms with the earlier 2 processes of 4 threads,
keep-alive and no connection limit (``bench/results/segment_load_configs.md``).

Environment: ``GEOPROMPT_WEB_BIND`` (default ``127.0.0.1:8000``), ``GEOPROMPT_WEB_WORKERS``
(default: the machine's cores + 1), ``GEOPROMPT_WEB_THREADS`` (default 1),
``GEOPROMPT_WEB_TIMEOUT_S`` (default 120), ``GEOPROMPT_WEB_PRELOAD`` (default true).
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise ValueError(f"{name} must be at least 1 (got {value})")
    return value


bind = os.environ.get("GEOPROMPT_WEB_BIND", "127.0.0.1:8000")
workers = _int("GEOPROMPT_WEB_WORKERS", (os.cpu_count() or 1) + 1)
threads = _int("GEOPROMPT_WEB_THREADS", 1)
worker_class = "gthread"
worker_connections = threads
keepalive = 0
# The application (Django, every view, torch and the SAM2 decoder's weights) is loaded once in
# the master and forked: the workers share those pages instead of each holding its own copy.
# Only with torch on one thread (the default): a master whose torch ran a parallel region has
# an OpenMP thread pool that forked children would wait on forever.
_one_torch_thread = os.environ.get("GEOPROMPT_TORCH_THREADS", "1").strip() == "1"
preload_app = os.environ.get("GEOPROMPT_WEB_PRELOAD", "true").lower() in ("1", "true", "yes") and _one_torch_thread
timeout = _int("GEOPROMPT_WEB_TIMEOUT_S", 120)
