"""Object storage for uploads, COGs, SAM2 features and exports.

Keys are POSIX-style relative paths (``projects/3/images/7/cog.tif``). The backend is a
local directory by default or an S3-compatible bucket, both through fsspec, chosen by
``settings.STORAGE_URL``. Writes are atomic: readers never see a partial object.

Temporary files (uploads being received, exports being built, local copies of stored
objects) live in ``settings.TEMP_DIR``, a folder of the app's own; partial local writes
live in the storage root's ``.partial`` folder. A process killed mid-way (a gunicorn
worker timed out during an upload, a Celery worker OOM-killed during an export) cannot
clean up after itself, so :func:`sweep_stale_temp` runs when a web or worker process
starts and deletes what has not been touched for an hour.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import fsspec
from django.conf import settings

from annotator.errors import StorageError

logger = logging.getLogger(__name__)

# Prefix of every temporary file and folder the app makes (also outside TEMP_DIR: modules
# that use the system's temporary folder name theirs ``geoprompt-...`` too).
TEMP_PREFIX = "geoprompt-"
# Temporary things untouched for this long belong to a process that died, not to a
# running one: live uploads and exports write continuously. A long job that only reads
# its local copy may lose the name, never the data (POSIX keeps an open file readable).
STALE_TEMP_S = 3600
PARTIAL_DIR = ".partial"
# S3's smallest part of a multipart upload (but the last).
S3_MIN_PART_BYTES = 5 * 1024 * 1024


def _check_key(key: str) -> str:
    """Refuse keys that could escape the storage root."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise StorageError(f"invalid storage key {key!r}")
    normal = posixpath.normpath(key)
    if normal != key or normal.startswith("..") or "/../" in f"/{normal}/":
        raise StorageError(f"invalid storage key {key!r}")
    return key


class Storage:
    """A storage root: ``file:///abs/dir``, a plain directory path, or ``s3://bucket/prefix``."""

    def __init__(self, url: str, s3_endpoint_url: str = ""):
        self.url = url
        self.s3_endpoint_url = s3_endpoint_url
        if "://" not in url or url.startswith("file://"):
            self.is_local = True
            self.root = str(Path(url.removeprefix("file://")).resolve())
            self.fs = fsspec.filesystem("file")
        else:
            self.is_local = False
            protocol, _, rest = url.partition("://")
            self.root = rest.rstrip("/")
            options = {"client_kwargs": {"endpoint_url": s3_endpoint_url}} if s3_endpoint_url else {}
            self.fs = fsspec.filesystem(protocol, **options)
            self.protocol = protocol

    def gdal_options(self) -> dict[str, str]:
        """GDAL configuration options that let GDAL read :meth:`uri` of this root.

        Empty for local storage. For S3 with a custom endpoint (MinIO, Ceph, a test server)
        GDAL needs the endpoint's host:port, whether it speaks TLS, and path-style URLs;
        credentials come from the usual ``AWS_*`` variables, which GDAL reads itself.
        """
        if self.is_local or not self.s3_endpoint_url:
            return {}
        endpoint = urlsplit(self.s3_endpoint_url)
        return {
            "AWS_S3_ENDPOINT": endpoint.netloc,
            "AWS_HTTPS": "YES" if endpoint.scheme == "https" else "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
        }

    def path(self, key: str) -> str:
        """The backend path of ``key`` (a filesystem path for local storage)."""
        return f"{self.root}/{_check_key(key)}"

    def uri(self, key: str) -> str:
        """A URI GDAL can open: a local path, or ``/vsis3/bucket/key`` for S3."""
        if self.is_local:
            return self.path(key)
        return f"/vsi{self.protocol}/{self.path(key)}"

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def size(self, key: str) -> int:
        return int(self.fs.size(self.path(key)))

    def open_read(self, key: str) -> IO[bytes]:
        return self.fs.open(self.path(key), "rb")

    @contextlib.contextmanager
    def _local_atomic(self, key: str) -> Iterator[str]:
        """A temporary path in the root's ``.partial`` folder, renamed onto ``key`` only if the block succeeds.

        The same file system as the target (so the rename is atomic), and one folder for the
        start-up sweep to look at rather than the whole tree.
        """
        target = self.path(key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = os.path.join(self.root, PARTIAL_DIR)
        os.makedirs(partial, exist_ok=True)
        tmp = os.path.join(partial, f"{uuid.uuid4().hex}.part")
        try:
            yield tmp
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise

    def put_file(self, local_path: str | os.PathLike, key: str) -> None:
        """Copy a local file to ``key`` atomically (temporary name, then rename)."""
        if self.is_local:
            with self._local_atomic(key) as tmp:
                shutil.copyfile(local_path, tmp)
        else:
            # An S3 PUT is atomic: the object appears whole or not at all.
            self.fs.put_file(str(local_path), self.path(key))

    def put_stream(self, stream: IO[bytes], key: str, chunk_size: int = 8 * 1024 * 1024) -> int:
        """Write a readable binary stream to ``key`` atomically; returns bytes written."""
        if self.is_local:
            with self._local_atomic(key) as tmp, open(tmp, "wb") as out:
                return _copy_stream(stream, out, chunk_size)
        # A multipart upload, streamed: no local copy of the whole object (a resumable upload
        # may be tens of GiB). The object appears only when the upload completes; a failure
        # aborts it, leaving nothing.
        out = self.fs.open(self.path(key), "wb", block_size=max(chunk_size, S3_MIN_PART_BYTES))
        try:
            written = _copy_stream(stream, out, chunk_size)
        except BaseException:
            with contextlib.suppress(Exception):
                out.discard()
            out.closed = True
            raise
        out.close()
        return written

    def put_bytes(self, data: bytes, key: str) -> None:
        """Write ``data`` to ``key`` atomically."""
        if self.is_local:
            with self._local_atomic(key) as tmp, open(tmp, "wb") as out:
                out.write(data)
        else:
            self.fs.pipe_file(self.path(key), data)

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self.path(key))

    def delete(self, key: str) -> None:
        """Delete one object; a missing object is not an error."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(key))

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under ``prefix`` (a folder-like key)."""
        target = self.path(prefix.rstrip("/"))
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, relative to the storage root."""
        target = self.path(prefix.rstrip("/"))
        if not self.fs.exists(target):
            return []
        found = self.fs.find(target)
        root = self.root.rstrip("/") + "/"
        return sorted(p.removeprefix(root) for p in found)

    @contextlib.contextmanager
    def local_copy(self, key: str, suffix: str = "") -> Iterator[str]:
        """A local filesystem path holding ``key``'s bytes for libraries that need one."""
        if self.is_local:
            yield self.path(key)
            return
        with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=temp_dir()) as tmpdir:
            local = os.path.join(tmpdir, "object" + suffix)
            self.fs.get_file(self.path(key), local)
            yield local


def _copy_stream(source: IO[bytes], out: IO[bytes], chunk_size: int) -> int:
    written = 0
    while chunk := source.read(chunk_size):
        out.write(chunk)
        written += len(chunk)
    return written


@lru_cache(maxsize=4)
def _storage_for(url: str, endpoint: str, pid: int) -> Storage:
    return Storage(url, endpoint)


def get_storage() -> Storage:
    """The configured storage (cached per settings value, so tests can override it, and per process).

    Per process: an fsspec S3 filesystem runs its own event loop, which a forked child (a
    gunicorn worker forked from the preloaded master, a Celery pool process) cannot use.
    """
    return _storage_for(settings.STORAGE_URL, settings.S3_ENDPOINT_URL, os.getpid())


# --- temporary files -------------------------------------------------------------------


def temp_dir() -> str:
    """The app's folder for temporary files (``settings.TEMP_DIR``), made on first use."""
    os.makedirs(settings.TEMP_DIR, exist_ok=True)
    return settings.TEMP_DIR


def _last_touched(path: str) -> float:
    """Newest modification time (epoch seconds) of ``path`` and, for a folder, of anything in it.

    A folder's own time only changes when entries are added or removed; an export writing
    into ``images/train/`` for an hour must not look abandoned.
    """
    newest = os.lstat(path).st_mtime
    if os.path.isdir(path) and not os.path.islink(path):
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _entries(folder: str, prefix: str) -> list[str]:
    """Paths of ``folder``'s entries whose names start with ``prefix`` (none if it is missing or unreadable)."""
    try:
        return [entry.path for entry in os.scandir(folder) if entry.name.startswith(prefix)]
    except FileNotFoundError:
        return []
    except OSError as exc:
        logger.warning("cannot sweep %s: %s", folder, exc)
        return []


def sweep_stale_temp(max_age_s: float = STALE_TEMP_S) -> list[str]:
    """Delete the temporary files and folders that killed processes left behind.

    Looks at: every entry of ``settings.TEMP_DIR`` (only ``geoprompt-*`` ones should it be
    the system's temporary folder itself); ``geoprompt-*`` entries of the system's
    temporary folder; the ``.partial`` folder of local storage. An entry goes when nothing
    in it was modified for ``max_age_s`` seconds. Other processes may be sweeping at the
    same time: what has already gone is not an error.

    Returns:
        the paths deleted.
    """
    system_temp = tempfile.gettempdir()
    # A TEMP_DIR set to the shared system folder is swept like it: only our own names.
    own_prefix = TEMP_PREFIX if os.path.realpath(settings.TEMP_DIR) == os.path.realpath(system_temp) else ""
    candidates = _entries(settings.TEMP_DIR, own_prefix) + _entries(system_temp, TEMP_PREFIX)
    storage = get_storage()
    if storage.is_local:
        candidates += _entries(os.path.join(storage.root, PARTIAL_DIR), "")
    cutoff = time.time() - max_age_s
    removed = []
    for path in dict.fromkeys(candidates):
        try:
            if _last_touched(path) >= cutoff:
                continue
            _remove(path)
        except FileNotFoundError:
            continue  # another process swept it first
        except OSError as exc:
            logger.warning("cannot remove stale temporary %s: %s", path, exc)
            continue
        removed.append(path)
    if removed:
        logger.info("removed %d stale temporary file(s): %s", len(removed), ", ".join(removed[:10]))
    return removed
