"""Import by reference (annotator/imagery/references.py): from a local HTTP server and the S3-compatible
test server; refused before any read when the host, an address or a redirect is not allowed."""

from __future__ import annotations

import hashlib
import json

import pytest

from annotator.imagery import images as image_service
from annotator.imagery.ingest import ingest_image
from annotator.imagery.references import is_public_address
from annotator.models import Image, Job
from annotator.storage import Storage, get_storage
from tests.support.rasters import data_file
from tests.support.s3 import CREDENTIALS
from tests.support.webserver import WebServer

RASTER = "rgba_uint16_utm12.tif"


@pytest.fixture
def web():
    server = WebServer().start()
    server.files["/scenes/field.tif"] = ("image/tiff", data_file(RASTER).read_bytes())
    yield server
    server.stop()


@pytest.fixture
def allow_local(settings, web):
    """The test-only switch: the local server (loopback) is on the allowlist and may be reached."""
    settings.IMPORT_ALLOWLIST = ["http://127.0.0.1"]
    settings.IMPORT_ALLOW_LOOPBACK = True


def import_url(client, project_id: int, url: str, **more):
    return client.post(f"/api/v1/projects/{project_id}/images/import/", {"url": url, **more}, format="json")


def sha256_of(key: str) -> str:
    with get_storage().open_read(key) as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_an_owner_imports_a_geotiff_from_an_allowlisted_web_server(cast, client_for, web, allow_local):
    answer = import_url(client_for(cast.owner), cast.project.pk, f"{web.url}/scenes/field.tif")
    assert answer.status_code == 202, answer.content
    image = Image.objects.get(pk=answer.json()["image"]["id"])
    assert answer.json()["job"]["kind"] == "ingest" and Job.objects.filter(pk=answer.json()["job"]["id"]).exists()
    assert image.name == "field.tif" and image.source_url == f"{web.url}/scenes/field.tif"

    # The ingest job's first step copies the raster into storage; ingest reads that copy.
    image_service.store_original(image)
    assert sha256_of(image.original_key) == hashlib.sha256(data_file(RASTER).read_bytes()).hexdigest()
    assert ingest_image(image).status == "ready"


def test_a_stac_item_imports_its_visual_asset_or_the_one_chosen(cast, client_for, web, allow_local):
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "scene-2020",
        "assets": {"visual": {"href": "field.tif"}, "thumbnail": {"href": "missing.png"}},
    }
    web.files["/scenes/item.json"] = ("application/geo+json", json.dumps(item).encode())
    owner = client_for(cast.owner)
    answer = import_url(owner, cast.project.pk, f"{web.url}/scenes/item.json")
    assert answer.status_code == 202, answer.content
    image = Image.objects.get(pk=answer.json()["image"]["id"])
    assert image.name == "scene-2020" and image.source_url == f"{web.url}/scenes/field.tif"
    image_service.store_original(image)
    assert get_storage().size(image.original_key) == data_file(RASTER).stat().st_size

    missing = import_url(owner, cast.project.pk, f"{web.url}/scenes/item.json", asset="nir")
    assert missing.status_code == 400 and missing.json()["code"] == "import_unreachable"
    assert "thumbnail, visual" in missing.json()["detail"]


def test_an_owner_imports_an_object_from_the_s3_compatible_server(cast, client_for, settings, monkeypatch, s3_server):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings.S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.IMPORT_ALLOWLIST = ["s3://imagery"]
    Storage("s3://imagery", s3_server.endpoint_url).put_file(data_file(RASTER), "2020/field.tif")

    answer = import_url(client_for(cast.owner), cast.project.pk, "s3://imagery/2020/field.tif")
    assert answer.status_code == 202, answer.content
    image = Image.objects.get(pk=answer.json()["image"]["id"])
    assert image.original_size == data_file(RASTER).stat().st_size
    image_service.store_original(image)
    assert sha256_of(image.original_key) == hashlib.sha256(data_file(RASTER).read_bytes()).hexdigest()

    other_bucket = import_url(client_for(cast.owner), cast.project.pk, "s3://private/secrets.tif")
    assert other_bucket.status_code == 403 and other_bucket.json()["code"] == "import_refused"


def test_imports_are_refused_before_any_read_when_the_url_is_not_allowed(cast, client_for, settings, web):
    owner = client_for(cast.owner)
    tif = f"{web.url}/scenes/field.tif"

    settings.IMPORT_ALLOWLIST = []
    disabled = import_url(owner, cast.project.pk, tif)
    assert disabled.status_code == 403 and "not enabled" in disabled.json()["detail"]

    settings.IMPORT_ALLOWLIST = ["http://127.0.0.1", "http://169.254.169.254", "http://10.20.30.40", "data.example.org"]
    # A loopback address, with the test-only switch off (its default).
    assert import_url(owner, cast.project.pk, tif).json()["code"] == "import_refused"
    # Link-local (cloud metadata) and private addresses, even when allowlisted.
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.20.30.40/a.tif"):
        refused = import_url(owner, cast.project.pk, url)
        assert refused.status_code == 403 and "not public" in refused.json()["detail"], url
    # A host not on the list, and plain http to a host allowed over https only.
    for url in ("https://evil.example.com/a.tif", "http://data.example.org/a.tif", "file:///etc/passwd"):
        refused = import_url(owner, cast.project.pk, url)
        assert refused.status_code in (400, 403), url
    assert web.requests == []

    # Redirects: each hop is checked before it is read.
    settings.IMPORT_ALLOW_LOOPBACK = True
    port = web.url.rsplit(":", 1)[1]
    web.redirects["/to-localhost"] = f"http://localhost:{port}/scenes/field.tif"
    web.redirects["/to-metadata"] = "http://169.254.169.254/latest/meta-data/"
    to_localhost = import_url(owner, cast.project.pk, f"{web.url}/to-localhost")
    assert to_localhost.status_code == 403 and "redirects" in to_localhost.json()["detail"]
    to_metadata = import_url(owner, cast.project.pk, f"{web.url}/to-metadata")
    assert to_metadata.status_code == 403 and "not public" in to_metadata.json()["detail"]
    assert web.requests == ["/to-localhost", "/to-metadata"]

    annotator = import_url(client_for(cast.annotator), cast.project.pk, tif)
    assert annotator.status_code == 403 and annotator.json()["code"] == "forbidden"
    assert not Image.objects.exists() and not Job.objects.exists()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address judged, not bound
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.216.34", True),
    ],
)
def test_only_global_unicast_addresses_are_public(address, public):
    assert is_public_address(address) is public
