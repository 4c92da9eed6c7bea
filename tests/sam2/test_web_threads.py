"""The web process runs torch's CPU kernels on ``GEOPROMPT_TORCH_THREADS`` threads (default 1).

A real start of the WSGI application in a fresh interpreter. No checkpoint and no untrained
weights allowed, so the decoder's preload only logs that it is missing (the threads are set
before it) and the start stays short.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = "import backend.wsgi, torch; print(torch.get_num_threads())"


def test_a_web_process_runs_torch_on_one_thread_by_default(tmp_path):
    environ = {k: v for k, v in os.environ.items() if k != "GEOPROMPT_TORCH_THREADS"}
    environ.update(
        GEOPROMPT_TEMP_DIR=str(tmp_path),
        GEOPROMPT_SAM2_ALLOW_UNTRAINED="false",
        GEOPROMPT_SAM2_CHECKPOINT_DIR=str(tmp_path / "no-checkpoints"),
        # What torch would use on its own here, so the default is seen to change it.
        OMP_NUM_THREADS="2",
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=environ, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == 1


# Libraries that only the workers' jobs use (drafts' NMS, export and import writers, the
# agreement's matching, the regulariser): each costs a web process 25 to 160 MiB resident.
WORKER_ONLY = ("torchvision", "torch._dynamo", "triton", "pyogrio", "geopandas", "pandas", "scipy.optimize",
               "buildingregulariser")  # fmt: skip


def test_a_web_process_with_every_view_loaded_holds_none_of_the_workers_libraries(tmp_path):
    probe = (
        "import sys, backend.wsgi, backend.urls; "
        f"print(' '.join(name for name in {WORKER_ONLY!r} if name in sys.modules) or 'none')"
    )
    environ = {**os.environ, "GEOPROMPT_TEMP_DIR": str(tmp_path), "GEOPROMPT_SAM2_ALLOW_UNTRAINED": "false",
               "GEOPROMPT_SAM2_CHECKPOINT_DIR": str(tmp_path / "no-checkpoints")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=environ, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "none"
