"""Benchmark (not a test): a web worker's resident memory per model, with this venv's torch or another build.

For each model, a fresh process sets Django up, imports every view, loads the decoder alone
(or the whole model) and decodes one click, as a web worker does before its first answer
(``bench/segment.py``'s ``web_rss_mib``), then prints RSS, anonymous memory and PSS (MiB).
``--torch-site DIR`` puts another torch build's site-packages first on the path of those
processes: PyPI's x86_64 torch wheel carries its CUDA libraries, which a CPU-only build
(``pip install torch --index-url https://download.pytorch.org/whl/cpu``) does not.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/web_memory.py [--models sam2.1_hiera_large] [--torch-site DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")
os.environ.setdefault("GEOPROMPT_SAM2_ALLOW_UNTRAINED", "true")

from bench.segment import machine, web_rss_mib  # noqa: E402


def torch_import_mib() -> tuple[str, dict[str, int]]:
    """The torch build these processes load, and a process's memory (MiB) after ``import torch`` alone."""
    script = (
        "import torch; s = dict(l.split(':', 1) for l in open('/proc/self/status'));"
        "print(torch.__version__, *(int(s[k].split()[0]) // 1024 for k in ('VmRSS', 'RssAnon', 'RssFile')))"
    )
    version, rss, anon, file = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()[-4:]
    return version, {"rss": int(rss), "anon": int(anon), "file": int(file)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="sam2.1_hiera_tiny,sam2.1_hiera_large")
    parser.add_argument("--torch-site", type=Path, help="site-packages of another torch build, put first on the path")
    args = parser.parse_args()
    if args.torch_site:
        paths = [str(args.torch_site), os.environ.get("PYTHONPATH")]
        os.environ["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    version, bare = torch_import_mib()
    print(
        f"torch {version}: `import torch` alone RSS {bare['rss']} MiB (anonymous {bare['anon']}, file {bare['file']})"
    )
    figures = web_rss_mib([name for name in args.models.split(",") if name])
    print(json.dumps({"machine": machine(), "torch": version, "import_torch_mib": bare, "web_rss_mib": figures}))


if __name__ == "__main__":
    main()
