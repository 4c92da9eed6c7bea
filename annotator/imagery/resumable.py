"""Resumable uploads: a small tus 1.0.0 server on top of our storage.

Extensions: creation, expiration, termination and checksum (``sha1``). The protocol is
https://tus.io/protocols/resumable-upload; the browser client is tus-js-client.

Where the bytes go: each accepted PATCH is stored as one object of its own
(``projects/{p}/uploads/{id}/parts/{offset}-{random}``) and recorded on the
:class:`~annotator.models.ResumableUpload` row, so web processes need share no disk (local
storage or S3 alike). A PATCH cut off mid-way stores nothing: its bytes are written under
a fresh key, and the row takes the part only when all the bytes declared by its
``Content-Length`` arrived (and their checksum matched). The client asks for the offset
again (HEAD) and sends the rest; tus allows a server to keep less than it received.

When the last byte arrives, the same transaction that records it creates the ``Image`` row
and its ingest ``Job`` and links them to the upload, under a row lock, so a retried final
PATCH finds the upload complete and creates nothing. The ingest job first assembles the
parts into the image's original by streaming (:func:`assemble`), then deletes them.

Unfinished uploads expire ``RESUMABLE_UPLOAD_EXPIRY_H`` hours after their last chunk;
:func:`sweep_expired` deletes their rows and parts. It runs when a web or worker process
starts and whenever an upload is created (there is no Celery beat; the creation path is the
periodic one: a deployment that receives uploads sweeps).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.errors import (
    ChecksumMismatch,
    InvalidInput,
    NotFound,
    OffsetMismatch,
    StorageError,
    UploadExpired,
    UploadTooLarge,
)
from annotator.imagery.pending import clean_name, create_pending
from annotator.models import Image, Job, Project, ResumableUpload
from annotator.storage import get_storage

logger = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,termination,checksum"
CHECKSUM_ALGORITHMS = "sha1"
# Upload-Metadata is a header: a few short values, never a document.
MAX_METADATA_CHARS = 4096
MAX_METADATA_VALUE_CHARS = 1024
READ_BLOCK = 1024 * 1024
# Expired uploads swept per upload created (the start-up sweep takes them all).
SWEEP_BATCH = 50


@dataclass(frozen=True)
class Received:
    """What a PATCH did: the upload's new offset, and the image its last byte created (if it did)."""

    upload: ResumableUpload
    image: Image | None
    job: Job | None


def parse_metadata(header: str | None) -> dict[str, str]:
    """tus ``Upload-Metadata``: comma-separated ``key base64value`` pairs → text values.

    Values are user text (a file name), decoded as UTF-8 and stripped of control
    characters; the header and each value are bounded.

    Raises:
        InvalidInput: malformed, too long, or not UTF-8.
    """
    if not header:
        return {}
    if len(header) > MAX_METADATA_CHARS:
        raise InvalidInput(f"Upload-Metadata is longer than {MAX_METADATA_CHARS} characters.", field="Upload-Metadata")
    values: dict[str, str] = {}
    for pair in header.split(","):
        key, _, encoded = pair.strip().partition(" ")
        if not key or not key.isascii() or " " in encoded:
            raise InvalidInput("Upload-Metadata must be 'key base64value' pairs.", field="Upload-Metadata")
        try:
            text = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"Upload-Metadata value of {key!r} is not base64 UTF-8.", field="Upload-Metadata"
            ) from exc
        text = "".join(ch for ch in text if ch.isprintable())
        values[key] = text[:MAX_METADATA_VALUE_CHARS]
    return values


def parse_checksum(header: str | None) -> bytes | None:
    """tus ``Upload-Checksum: sha1 <base64 digest>`` → the 20-byte digest (None without the header).

    Raises:
        InvalidInput: another algorithm, or a digest that is not base64 of 20 bytes.
    """
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() != "sha1":
        raise InvalidInput(f"Upload-Checksum supports only {CHECKSUM_ALGORITHMS}.", field="Upload-Checksum")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise InvalidInput("Upload-Checksum's digest is not base64.", field="Upload-Checksum") from exc
    if len(digest) != hashlib.sha1(usedforsecurity=False).digest_size:
        raise InvalidInput("Upload-Checksum's sha1 digest must be 20 bytes.", field="Upload-Checksum")
    return digest


def parse_length(header: str | None, name: str) -> int:
    """A non-negative decimal header (Upload-Length, Upload-Offset, Content-Length), in bytes."""
    if header is None or not header.strip().isdigit() or len(header.strip()) > 20:
        raise InvalidInput(f"{name} must be a non-negative whole number of bytes.", field=name)
    return int(header.strip())


def _expiry(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(hours=settings.RESUMABLE_UPLOAD_EXPIRY_H)


def create_upload(project: Project, user, length_header: str | None, metadata_header: str | None) -> ResumableUpload:
    """tus creation: a new upload of ``Upload-Length`` bytes (deferred lengths are not supported).

    Raises:
        InvalidInput: no or a malformed length or metadata.
        UploadTooLarge: a length above ``MAX_RESUMABLE_UPLOAD_BYTES``.
    """
    length = parse_length(length_header, "Upload-Length")
    limit = settings.MAX_RESUMABLE_UPLOAD_BYTES
    if length > limit:
        raise UploadTooLarge(f"The file is larger than the upload limit of {limit} bytes.", field="Upload-Length")
    if length == 0:
        raise InvalidInput("The file is empty.", field="Upload-Length")
    metadata = parse_metadata(metadata_header)
    filename = clean_name(metadata.get("filename", "")) if metadata.get("filename") else ""
    name = clean_name(metadata["name"]) if metadata.get("name") else ""
    sweep_expired(limit=SWEEP_BATCH)
    return ResumableUpload.objects.create(
        project=project, created_by=user, length=length, filename=filename, name=name, expires_at=_expiry()
    )


def get_upload(project: Project, upload_id: uuid.UUID | str) -> ResumableUpload:
    """The project's upload of that id; an expired one is gone (410), an unknown one not found (404)."""
    upload = ResumableUpload.objects.filter(project=project, pk=upload_id).first()
    if upload is None:
        raise NotFound("No such upload: it finished and was assembled, was cancelled, or never existed.")
    if upload.image_id is None and upload.expires_at <= timezone.now():
        raise UploadExpired("The upload expired; start it again.")
    return upload


class _CountingReader:
    """Reads at most ``limit`` bytes of ``stream`` in blocks, hashing them with sha1 as they pass."""

    def __init__(self, stream: IO[bytes], limit: int):
        self.stream = stream
        self.remaining = limit
        self.received = 0
        self.cut_off = False  # the client went away mid-body
        self.sha1 = hashlib.sha1(usedforsecurity=False)

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        try:
            data = self.stream.read(min(size, READ_BLOCK))
        except OSError:
            self.cut_off = True
            raise
        self.remaining -= len(data)
        self.received += len(data)
        self.sha1.update(data)
        return data


def receive_chunk(
    upload: ResumableUpload,
    offset_header: str | None,
    content_length_header: str | None,
    checksum_header: str | None,
    stream: IO[bytes],
    user,
) -> Received:
    """tus PATCH: store the request body as the part at ``Upload-Offset``.

    Args:
        upload: the upload (from :func:`get_upload`).
        offset_header: ``Upload-Offset``; it must equal the bytes held (409 otherwise).
        content_length_header: the body's length in bytes: at most ``RESUMABLE_CHUNK_BYTES``
            and no more than the upload still lacks.
        checksum_header: optional ``Upload-Checksum`` (``sha1``); a mismatch discards the body.
        stream: the request body.
        user: who sends it (the image's uploader when this is the last part).
    Returns:
        the upload with its new offset, and the image and ingest job its last byte created.
    """
    offset = parse_length(offset_header, "Upload-Offset")
    if upload.image_id is not None or offset != upload.offset:
        raise OffsetMismatch(
            f"The upload holds {upload.offset} bytes; send the part that starts there.",
            extra={"offset": upload.offset},
        )
    size = parse_length(content_length_header, "Content-Length")
    left = upload.length - upload.offset
    if size > settings.RESUMABLE_CHUNK_BYTES or size > left:
        raise UploadTooLarge(
            f"A part may hold at most {min(settings.RESUMABLE_CHUNK_BYTES, left)} bytes here.", field="Content-Length"
        )
    expected_digest = parse_checksum(checksum_header)
    if size == 0:
        return Received(upload, None, None)
    storage = get_storage()
    key = f"{upload.storage_prefix}/parts/{offset:020d}-{uuid.uuid4().hex[:12]}"
    reader = _CountingReader(stream, size)
    try:
        storage.put_stream(reader, key, chunk_size=READ_BLOCK)
    except BaseException as exc:
        storage.delete(key)
        if reader.cut_off:
            # Django's UnreadablePostError: the client went away mid-body.
            raise InvalidInput(
                f"The request ended after {reader.received} of its {size} bytes; nothing of it was kept.",
                field="Content-Length",
            ) from exc
        raise
    try:
        if reader.received != size:
            raise InvalidInput(
                f"The request ended after {reader.received} of its {size} bytes; nothing of it was kept.",
                field="Content-Length",
            )
        if expected_digest is not None and reader.sha1.digest() != expected_digest:
            raise ChecksumMismatch("The part's sha1 does not match Upload-Checksum; it was discarded.")
        return _record_part(upload.pk, offset, size, key, user)
    except BaseException:
        storage.delete(key)
        raise


def _record_part(upload_id, offset: int, size: int, key: str, user) -> Received:
    """Add a stored part to the upload under its row lock; the last one creates the image, once."""
    with transaction.atomic():
        upload = ResumableUpload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None:
            raise NotFound("The upload was cancelled or expired while this part arrived.")
        if upload.image_id is not None or upload.offset != offset:
            # Another request for the same offset won the race.
            raise OffsetMismatch(
                f"The upload holds {upload.offset} bytes; send the part that starts there.",
                extra={"offset": upload.offset},
            )
        upload.parts = [*upload.parts, [offset, size, key]]
        upload.offset = offset + size
        upload.expires_at = _expiry()
        image = job = None
        if upload.offset == upload.length:
            image, job = create_pending(
                upload.project, user, upload.name or upload.filename or "image", size=upload.length
            )
            upload.image = image
        upload.save()
    return Received(upload, image, job)


def terminate(upload: ResumableUpload) -> None:
    """tus termination: delete an unfinished upload and its parts (a finished one belongs to its image)."""
    if upload.image_id is not None:
        raise OffsetMismatch("The upload is complete; delete its image instead.", extra={"offset": upload.offset})
    prefix = upload.storage_prefix
    upload.delete()
    get_storage().delete_prefix(prefix)


class _ConcatenatedParts:
    """A readable stream over stored parts in order, checking each part's size as it goes."""

    def __init__(self, parts: Iterable[list]):
        self.parts = iter(parts)
        self.current: IO[bytes] | None = None
        self.expected = 0
        self.read_in_part = 0
        self.storage = get_storage()

    def read(self, size: int = -1) -> bytes:
        while True:
            if self.current is None:
                part = next(self.parts, None)
                if part is None:
                    return b""
                _offset, self.expected, key = part
                self.current = self.storage.open_read(key)
                self.read_in_part = 0
            data = self.current.read(READ_BLOCK if size is None or size < 0 else size)
            if data:
                self.read_in_part += len(data)
                return data
            self.current.close()
            self.current = None
            if self.read_in_part != self.expected:
                raise StorageError(f"a stored part holds {self.read_in_part} bytes, not {self.expected}")

    def close(self) -> None:
        if self.current is not None:
            self.current.close()


def assemble(image: Image) -> bool:
    """Write the parts of the image's finished upload, in order, as its original; then delete them.

    Streams part by part (memory does not grow with the file). Safe to run again: the
    original is written atomically and the parts deleted only after it and the row are saved.

    Returns:
        False when the image did not come from a resumable upload.
    """
    upload = ResumableUpload.objects.filter(image=image).first()
    if upload is None:
        return False
    expected = sum(size for _offset, size, _key in upload.parts)
    if expected != upload.length or upload.offset != upload.length:
        raise StorageError(f"upload {upload.pk} holds {expected} of {upload.length} bytes")
    storage = get_storage()
    key = f"{image.storage_prefix}/original.tif"
    stream = _ConcatenatedParts(sorted(upload.parts))
    try:
        written = storage.put_stream(stream, key, chunk_size=READ_BLOCK)
    finally:
        stream.close()
    if written != upload.length:
        storage.delete(key)
        raise StorageError(f"assembled {written} bytes of {upload.length}")
    prefix = upload.storage_prefix
    with transaction.atomic():
        Image.objects.filter(pk=image.pk).update(original_key=key, original_size=written)
        upload.delete()
    image.original_key, image.original_size = key, written
    with contextlib.suppress(Exception):
        storage.delete_prefix(prefix)
    return True


def sweep_expired(now: datetime | None = None, limit: int | None = None) -> list[str]:
    """Delete unfinished uploads past their expiry: rows, then their stored parts.

    Finished uploads (with an image) are the ingest job's to assemble and delete, however
    old. Other processes may sweep at the same time: a row already gone is skipped.

    Returns:
        the ids (text) of the uploads deleted.
    """
    now = now or timezone.now()
    expired = ResumableUpload.objects.filter(image__isnull=True, expires_at__lte=now).order_by("expires_at")
    ids = list(expired.values_list("pk", "project_id")[:limit] if limit else expired.values_list("pk", "project_id"))
    storage = get_storage()
    removed = []
    for upload_id, project_id in ids:
        deleted, _ = ResumableUpload.objects.filter(pk=upload_id, image__isnull=True, expires_at__lte=now).delete()
        if not deleted:
            continue
        try:
            storage.delete_prefix(f"projects/{project_id}/uploads/{upload_id}")
        except Exception:
            logger.warning("could not delete the parts of expired upload %s", upload_id, exc_info=True)
        removed.append(str(upload_id))
    if removed:
        logger.info("removed %d expired upload(s)", len(removed))
    return removed
