"""Import by reference: imagery added by URL (``s3://bucket/key``, ``https://`` GeoTIFF/COG, STAC item).

No server-side request forgery. Every URL, and every hop of a redirect, is checked before
anything is read from it:

- the scheme is ``https`` or ``s3`` (``http`` only for a host the allowlist names as
  ``http://host``: meant for the test suite's local server);
- the host (or the bucket) is on ``settings.IMPORT_ALLOWLIST`` (empty: the feature is off);
  an entry without a port allows any port of that host;
- the host name is resolved once, every address it resolves to must be global (not
  loopback, private, link-local, shared, reserved, multicast or unspecified), and the
  connection goes to that checked address (TLS still verifies the certificate for the
  host name, and sends it as SNI), so a DNS answer that changes between the check and the
  read (DNS rebinding) reaches nothing new. ``settings.IMPORT_ALLOW_LOOPBACK`` lets
  loopback addresses through, for the test suite's local servers only;
- redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each hop checked as above.

``s3://`` references are read with the deployment's S3 endpoint and credentials (those of
its storage); the bucket allowlist is the whole check there (the endpoint is the
operator's, not the user's).

Why not read in place through GDAL's ``/vsicurl/``: GDAL resolves the host again for each
range request and follows redirects itself, so it can be neither pinned to the checked
address nor made to check each hop. The original is therefore copied into our storage by
streaming (bounded by ``MAX_RESUMABLE_UPLOAD_BYTES``), and ingest reads our copy as it
reads an upload; GDAL never sees the user's URL.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import posixpath
import socket
from dataclasses import dataclass
from typing import IO
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings

from annotator.errors import ImportRefused, ImportUnreachable, InvalidInput, UploadTooLarge
from annotator.models import Image
from annotator.storage import Storage, get_storage

logger = logging.getLogger(__name__)

MAX_URL_CHARS = 2048
MAX_REDIRECTS = 5
# A STAC item is a small JSON document.
MAX_STAC_ITEM_BYTES = 1024 * 1024
STAC_DEFAULT_ASSET = "visual"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
COPY_BLOCK = 8 * 1024 * 1024
JSON_TYPES = ("application/json", "application/geo+json")


@dataclass(frozen=True)
class Reference:
    """A URL that passed the allowlist: its scheme (``https``, ``http`` or ``s3``), host or bucket, and port."""

    url: str
    scheme: str
    host: str
    port: int | None

    @property
    def s3_path(self) -> str:
        """``bucket/key`` of an ``s3://`` reference."""
        return self.url.removeprefix("s3://")


def allowlist() -> set[tuple[str, str, int | None]]:
    """``settings.IMPORT_ALLOWLIST`` as (scheme, host, port or None for any) entries.

    ``host`` and ``https://host`` allow HTTPS; ``http://host`` allows plain HTTP;
    ``s3://bucket`` allows that bucket. Hosts compare case-insensitively.
    """
    entries = set()
    for entry in settings.IMPORT_ALLOWLIST:
        text = entry.strip()
        parsed = urlsplit(text if "://" in text else f"https://{text}")
        if parsed.scheme not in ("https", "http", "s3") or not parsed.hostname:
            logger.warning("ignoring GEOPROMPT_IMPORT_ALLOWLIST entry %r", entry)
            continue
        entries.add((parsed.scheme, parsed.hostname.lower(), parsed.port))
    return entries


def check_url(url: str) -> Reference:
    """Check a URL against the scheme rules and the allowlist, reading nothing.

    Raises:
        InvalidInput: not a URL we can import (malformed, credentials in it, too long).
        ImportRefused: import by reference is off, or the scheme or host is not allowed.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("Give the URL of a GeoTIFF, an s3:// key or a STAC item.", field="url")
    url = url.strip()
    if len(url) > MAX_URL_CHARS or any(not ch.isprintable() or ch.isspace() for ch in url):
        raise InvalidInput(f"The URL must be at most {MAX_URL_CHARS} printable characters.", field="url")
    allowed = allowlist()
    if not allowed:
        raise ImportRefused(
            "Import by reference is not enabled on this server (GEOPROMPT_IMPORT_ALLOWLIST is empty).", field="url"
        )
    try:
        parsed = urlsplit(url)
        port = parsed.port
    except ValueError as exc:
        raise InvalidInput("The URL is not valid.", field="url") from exc
    scheme, host = parsed.scheme.lower(), (parsed.hostname or "").lower()
    if scheme not in ("https", "http", "s3") or not host:
        raise InvalidInput("The URL must start with https:// or s3://.", field="url")
    if parsed.username is not None or parsed.password is not None:
        raise InvalidInput("The URL must not carry a user name or password.", field="url")
    if scheme == "s3":
        key = parsed.path.lstrip("/")
        if not key or key.endswith("/") or parsed.query or parsed.fragment or port is not None:
            raise InvalidInput("An S3 reference is s3://bucket/key of one object.", field="url")
    if (scheme, host, None) not in allowed and (scheme, host, port) not in allowed:
        if scheme == "http" and (("https", host, None) in allowed or ("https", host, port) in allowed):
            raise ImportRefused(f"{host} is allowed over https only.", field="url")
        what = "bucket" if scheme == "s3" else "host"
        raise ImportRefused(f"The {what} {host} is not on this server's import allowlist.", field="url")
    return Reference(url=url, scheme=scheme, host=host, port=port)


def is_public_address(address: str) -> bool:
    """True for an IP address a server may fetch from: global unicast only.

    Loopback, private (RFC 1918, unique local), shared (100.64/10), link-local (cloud
    metadata at 169.254.169.254), reserved, multicast and unspecified addresses are not;
    an IPv4 address mapped into IPv6 is judged as the IPv4 one.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )


def _allowed_address(address: str) -> bool:
    if is_public_address(address):
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return settings.IMPORT_ALLOW_LOOPBACK and ip.is_loopback


def resolve(reference: Reference) -> str:
    """Resolve the reference's host once; every address must be allowed. Returns the one to connect to.

    Raises:
        ImportUnreachable: the name does not resolve.
        ImportRefused: any address is loopback, private, link-local, reserved or multicast.
    """
    port = reference.port or (443 if reference.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(reference.host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ImportUnreachable(f"The host {reference.host} could not be found.", field="url") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    refused = [a for a in addresses if not _allowed_address(a)]
    if not addresses or refused:
        raise ImportRefused(
            f"The host {reference.host} resolves to an address that is not public ({', '.join(refused)}): refused.",
            field="url",
        )
    return addresses[0]


def _request(reference: Reference, address: str) -> urllib3.BaseHTTPResponse:
    """One GET of the reference, connected to ``address`` (already checked), never following redirects."""
    parsed = urlsplit(reference.url)
    port = reference.port or (443 if reference.scheme == "https" else 80)
    default_port = port == (443 if reference.scheme == "https" else 80)
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
    if reference.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address,
            port,
            server_hostname=reference.host,
            assert_hostname=reference.host,
            cert_reqs="CERT_REQUIRED",
            timeout=timeout,
            retries=False,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    headers = {
        "Host": reference.host if default_port else f"{reference.host}:{port}",
        "User-Agent": "Geoprompt import",
        "Accept-Encoding": "identity",
    }
    try:
        return pool.urlopen(
            "GET", target, headers=headers, redirect=False, retries=False, preload_content=False, release_conn=False
        )
    except urllib3.exceptions.HTTPError as exc:
        raise ImportUnreachable(
            f"{reference.host} could not be reached: {exc.__class__.__name__}.", field="url"
        ) from exc


def open_https(url: str) -> tuple[Reference, urllib3.BaseHTTPResponse]:
    """GET an http(s) URL, checking it and every redirect hop first; the 200 response, unread.

    Raises:
        ImportRefused: the URL or a hop it redirects to is not allowed.
        ImportUnreachable: no answer, an HTTP error, or too many redirects.
    """
    reference = check_url(url)
    for _hop in range(MAX_REDIRECTS + 1):
        if reference.scheme not in ("https", "http"):
            raise ImportRefused("A web address redirected to something other than a web address.", field="url")
        response = _request(reference, resolve(reference))
        if response.status in REDIRECT_STATUSES:
            location = response.headers.get("Location", "")
            response.close()
            if not location:
                raise ImportUnreachable(f"{reference.host} redirected nowhere.", field="url")
            try:
                reference = check_url(urljoin(reference.url, location))
            except ImportRefused as exc:
                raise ImportRefused(f"The URL redirects elsewhere, and: {exc.message}", field="url") from exc
            continue
        if response.status != 200:
            response.close()
            raise ImportUnreachable(f"{reference.host} answered HTTP {response.status}.", field="url")
        return reference, response
    raise ImportUnreachable(f"More than {MAX_REDIRECTS} redirects.", field="url")


def _s3_fs() -> Storage:
    """The deployment's S3 access (its storage's endpoint and credentials), for any bucket."""
    return Storage("s3://", settings.S3_ENDPOINT_URL)


def _check_size(size: int | None) -> None:
    limit = settings.MAX_RESUMABLE_UPLOAD_BYTES
    if size is not None and size > limit:
        raise UploadTooLarge(f"The raster is {size} bytes, more than the limit of {limit} bytes.", field="url")


def _content_length(response: urllib3.BaseHTTPResponse) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _read_bounded(response: urllib3.BaseHTTPResponse, limit: int) -> bytes:
    data = response.read(limit + 1)
    response.close()
    if len(data) > limit:
        raise ImportUnreachable(f"The STAC item is larger than {limit} bytes.", field="url")
    return data


def _stac_asset_url(item: object, item_url: str, asset: str) -> str:
    """The href of ``asset`` in a STAC item (relative hrefs resolved against the item's URL)."""
    if not isinstance(item, dict) or item.get("type") != "Feature" or not isinstance(item.get("assets"), dict):
        raise ImportUnreachable("The URL is neither a GeoTIFF nor a STAC item with assets.", field="url")
    assets = item["assets"]
    chosen = assets.get(asset)
    if not isinstance(chosen, dict) or not isinstance(chosen.get("href"), str):
        names = ", ".join(sorted(str(k) for k in assets)[:20])
        raise ImportUnreachable(f"The STAC item has no asset {asset!r} (it has: {names}).", field="asset")
    return urljoin(item_url, chosen["href"])


@dataclass(frozen=True)
class Resolved:
    """What an import will copy: the raster's URL (a STAC item's asset resolved) and a display name."""

    url: str
    name: str
    size: int | None


def resolve_source(url: str, asset: str | None = None) -> Resolved:
    """Check a URL and, for a STAC item, find its asset's URL; reads at most the item itself.

    A URL is taken for a STAC item when ``asset`` is given or it answers with JSON; its
    ``asset`` (default ``visual``) must be a URL that passes the same checks.

    Raises:
        InvalidInput, ImportRefused, ImportUnreachable, UploadTooLarge.
    """
    reference = check_url(url)
    if asset is not None and (not asset or len(asset) > 100 or not asset.isprintable()):
        raise InvalidInput("asset must be the key of a STAC item's asset.", field="asset")
    if reference.scheme == "s3":
        raster = reference
        size = _s3_size(reference)
    else:
        final, response = open_https(reference.url)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if asset is None and content_type not in JSON_TYPES:
            size = _content_length(response)
            response.close()
            _check_size(size)
            return Resolved(url=reference.url, name=_name_of(final.url), size=size)
        item = json.loads(_read_bounded(response, MAX_STAC_ITEM_BYTES) or b"null")
        raster = check_url(_stac_asset_url(item, final.url, asset or STAC_DEFAULT_ASSET))
        if raster.scheme == "s3":
            size = _s3_size(raster)
        else:
            _final, response = open_https(raster.url)
            size = _content_length(response)
            response.close()
        item_id = item.get("id") if isinstance(item.get("id"), str) else ""
        _check_size(size)
        return Resolved(url=raster.url, name=item_id or _name_of(raster.url), size=size)
    _check_size(size)
    return Resolved(url=raster.url, name=_name_of(raster.url), size=size)


def _s3_size(reference: Reference) -> int:
    try:
        return _s3_fs().fs.size(reference.s3_path)
    except FileNotFoundError as exc:
        raise ImportUnreachable(f"No object at {reference.url}.", field="url") from exc
    except Exception as exc:
        logger.warning("cannot read %s: %s", reference.url, exc)
        raise ImportUnreachable(f"{reference.url} could not be read.", field="url") from exc


def _name_of(url: str) -> str:
    return posixpath.basename(urlsplit(url).path) or "image"


class _BoundedReader:
    """A stream that fails once more than ``limit`` bytes have come through it."""

    def __init__(self, stream: IO[bytes], limit: int):
        self.stream = stream
        self.limit = limit
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(COPY_BLOCK if size is None or size < 0 else size)
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise UploadTooLarge(f"The raster is larger than the limit of {self.limit} bytes.", field="url")
        return data


def copy_original(image: Image) -> None:
    """Copy the raster at ``image.source_url`` into storage as the image's original, by streaming.

    The URL is checked again (the allowlist may have changed since the import was asked
    for), and so is every redirect. Sets ``original_key`` and ``original_size``.
    """
    reference = check_url(image.source_url)
    storage = get_storage()
    key = f"{image.storage_prefix}/original.tif"
    limit = settings.MAX_RESUMABLE_UPLOAD_BYTES
    if reference.scheme == "s3":
        _check_size(_s3_size(reference))
        try:
            source: IO[bytes] = _s3_fs().fs.open(reference.s3_path, "rb")
        except Exception as exc:
            raise ImportUnreachable(f"{reference.url} could not be read.", field="url") from exc
    else:
        _final, response = open_https(reference.url)
        source = response
    try:
        if isinstance(source, urllib3.BaseHTTPResponse):
            _check_size(_content_length(source))
        written = storage.put_stream(_BoundedReader(source, limit), key, chunk_size=COPY_BLOCK)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ImportUnreachable(f"Reading {reference.host} stopped: {exc.__class__.__name__}.", field="url") from exc
    finally:
        if isinstance(source, urllib3.BaseHTTPResponse):
            source.close()
        else:
            source.close()
    Image.objects.filter(pk=image.pk).update(original_key=key, original_size=written)
    image.original_key, image.original_size = key, written
