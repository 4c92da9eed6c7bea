"""Speaking tus 1.0.0 to the API from a DRF test client (what tus-js-client sends)."""

from __future__ import annotations

import base64
import hashlib

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


def metadata(**values: str) -> str:
    """An ``Upload-Metadata`` header: ``key base64(value)`` pairs."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client, project_id: int, length: int, **meta: str):
    """POST to the project's tus endpoint; returns the response (Location names the upload)."""
    return client.generic(
        "POST",
        f"/api/v1/projects/{project_id}/uploads/",
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=metadata(**meta),
        **TUS,
    )


def patch(client, url: str, offset: int, data: bytes, *, checksum: bool = True, **extra):
    """PATCH ``data`` at ``offset`` (with its sha1 in Upload-Checksum unless ``checksum`` is false)."""
    headers = {"HTTP_UPLOAD_OFFSET": str(offset), **TUS, **extra}
    if checksum and "HTTP_UPLOAD_CHECKSUM" not in extra:
        digest = base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()
        headers["HTTP_UPLOAD_CHECKSUM"] = f"sha1 {digest}"
    return client.generic("PATCH", url, data, content_type="application/offset+octet-stream", **headers)


def head(client, url: str):
    return client.generic("HEAD", url, **TUS)
