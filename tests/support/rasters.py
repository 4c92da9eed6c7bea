"""The reference rasters in ``fixtures/rasters/`` (see its README for sources and licences)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "fixtures" / "rasters"


def data_file(name: str) -> Path:
    """The path of one reference raster; fails the test if the repository lacks it."""
    path = DATA / name
    if not path.exists():
        pytest.fail(f"reference raster {path} is missing: fixtures/rasters/ is part of the repository")
    return path
