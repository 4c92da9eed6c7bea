"""The export archive: a zip of the export folder, built file by file (never in memory)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

# Already compressed: storing them again costs time for nothing.
STORED_SUFFIXES = (".png", ".tif", ".zip")


def zip_export(folder: Path, zip_path: Path, between_files: Callable[[], None] | None = None) -> int:
    """Zip every file under ``folder`` (paths relative to it, sorted); returns the zip's bytes.

    ``between_files`` is called before each file (a cancellation check may raise there).
    """
    with zipfile.ZipFile(zip_path, "w", allowZip64=True) as archive:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                if between_files is not None:
                    between_files()
                path = Path(root) / name
                arcname = path.relative_to(folder).as_posix()
                method = zipfile.ZIP_STORED if name.endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
                archive.write(path, arcname=arcname, compress_type=method)
    return zip_path.stat().st_size
