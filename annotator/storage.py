"""Object storage for uploads, COGs, SAM2 features and exports.

Keys are POSIX-style relative paths (``projects/3/images/7/cog.tif``). The backend is a
local directory by default or an S3-compatible bucket, both through fsspec, chosen by
``settings.STORAGE_URL``. Writes are atomic: readers never see a partial object.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO

import fsspec
from django.conf import settings

from annotator.errors import StorageError


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
        """A temporary path beside ``key``'s file, renamed onto it only if the block succeeds."""
        target = self.path(key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.{uuid.uuid4().hex}.part"
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
        with tempfile.NamedTemporaryFile(prefix="geoprompt-", suffix=".part") as out:
            written = _copy_stream(stream, out, chunk_size)
            out.flush()
            self.fs.put_file(out.name, self.path(key))
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
        with tempfile.TemporaryDirectory(prefix="geoprompt-") as tmpdir:
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
def _storage_for(url: str, endpoint: str) -> Storage:
    return Storage(url, endpoint)


def get_storage() -> Storage:
    """The configured storage (cached per settings value, so tests can override it)."""
    return _storage_for(settings.STORAGE_URL, settings.S3_ENDPOINT_URL)
