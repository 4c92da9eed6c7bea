"""How many threads torch's CPU kernels use in a web process.

A click's decoder call is ~1 GFLOP of small matrix products; split over several threads
it gains little, and with several web processes and request threads on the same cores the
threads only wait for each other (measured on a loaded 2-core machine: one decode 749 ms
with 2 torch threads, 107 ms with 1). So each web process runs torch on one thread
(``GEOPROMPT_TORCH_THREADS``, default 1) and gets its parallelism from more processes
(gunicorn ``--workers`` = cores) and its request threads (I/O: database, Redis, storage).
The encode workers are not affected: they keep torch's default (every core).
"""

from __future__ import annotations

import torch


def configure_torch_threads(threads: int) -> int:
    """Set torch's intra-op threads of this process to ``threads`` (0: leave torch's default); returns the count."""
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
