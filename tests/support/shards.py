"""Split the suite into shards that scripts/test.sh runs side by side, balanced by measured time.

``tests/durations.json`` holds each slow file's seconds from one serial run (its worker,
browser, SAM2 and fuzz tests); every test also counts :data:`PER_TEST_S`. Files go whole to a
shard (their module fixtures stay in one process), longest first, each to the shard with the
least time so far. A file missing from the JSON is only estimated worse, never left out.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

DURATIONS = Path(__file__).resolve().parent.parent / "durations.json"
PER_TEST_S = 0.25


def assign(weights: dict[str, float], shards: int) -> dict[str, int]:
    """File → shard index in ``range(shards)``: longest-first onto the least-loaded shard (ties by name)."""
    loads = [0.0] * shards
    owner = {}
    for name, seconds in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])):
        shard = min(range(shards), key=lambda i: (loads[i], i))
        owner[name] = shard
        loads[shard] += seconds
    return owner


def select(nodeids: list[str], spec: str) -> list[bool]:
    """Whether each test belongs to shard ``spec`` (``"i/n"``, i from 1), given every collected test's id."""
    index, count = (int(part) for part in spec.split("/"))
    if not 1 <= index <= count:
        raise ValueError(f"shard {spec!r}: expected i/n with 1 <= i <= n")
    measured = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    files = [nodeid.split("::", 1)[0] for nodeid in nodeids]
    tests_per_file = Counter(files)
    weights = {f: measured.get(f, 0.0) + PER_TEST_S * n for f, n in tests_per_file.items()}
    owner = assign(weights, count)
    return [owner[f] == index - 1 for f in files]
