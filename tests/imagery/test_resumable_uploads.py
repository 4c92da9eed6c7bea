"""Resumable uploads: the tus 1.0.0 endpoint of a project (annotator/imagery/resumable.py)."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.http import UnreadablePostError
from django.utils import timezone

from annotator.errors import InvalidInput
from annotator.imagery import images as image_service
from annotator.imagery import resumable
from annotator.imagery.ingest import ingest_image
from annotator.models import Image, Job, ResumableUpload
from annotator.storage import get_storage
from tests.support import tus
from tests.support.rasters import data_file
from tests.support.s3 import CREDENTIALS

RASTER = "rgba_uint16_utm12.tif"


@pytest.fixture(params=["local", "s3"])
def any_storage(request, settings, monkeypatch, tmp_path):
    """Local storage, then S3 with this process's own empty temporary folder (no shared disk)."""
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        settings.STORAGE_URL = f"s3://deployment/{tmp_path.name}"
        settings.S3_ENDPOINT_URL = server.endpoint_url
        settings.TEMP_DIR = str(tmp_path / "web-temp")
    return request.param


def test_an_upload_interrupted_at_half_and_resumed_is_the_same_file_in_one_image(
    cast, client_for, settings, any_storage
):
    settings.RESUMABLE_CHUNK_BYTES = 8 * 1024
    data = data_file(RASTER).read_bytes()
    half = len(data) // 2
    owner = client_for(cast.owner)

    created = tus.create(
        owner, cast.project.pk, len(data), filename="scene <b>1 &amp; 2.tif", name="scene <b>1 &amp; 2.tif"
    )
    assert created.status_code == 201, created.content
    assert created["Tus-Resumable"] == "1.0.0" and created["Upload-Expires"]
    url = created["Location"]

    # The first half in parts of at most the chunk size; then the connection drops.
    offset = 0
    while offset < half:
        part = data[offset : min(offset + settings.RESUMABLE_CHUNK_BYTES, half)]
        answer = tus.patch(owner, url, offset, part)
        assert answer.status_code == 204, answer.content
        offset = int(answer["Upload-Offset"])
    assert offset == half

    # Resuming: the client asks where to go on from, and a part at the wrong offset is refused.
    assert tus.head(owner, url)["Upload-Offset"] == str(half)
    stale = tus.patch(owner, url, 0, data[:100])
    assert stale.status_code == 409 and stale.json()["code"] == "offset_mismatch"
    corrupt = tus.patch(owner, url, half, data[half : half + 100], HTTP_UPLOAD_CHECKSUM="sha1 " + "A" * 27 + "=")
    assert corrupt.status_code == 460 and corrupt.json()["code"] == "checksum_mismatch"
    assert not Image.objects.exists()

    while offset < len(data):
        part = data[offset : offset + settings.RESUMABLE_CHUNK_BYTES]
        answer = tus.patch(owner, url, offset, part)
        assert answer.status_code == 204, answer.content
        offset = int(answer["Upload-Offset"])
    last_offset = offset - len(part)
    # The final PATCH sent again (its answer was lost): no second image.
    again = tus.patch(owner, url, last_offset, part)
    assert again.status_code == 409

    image = Image.objects.get(project=cast.project)
    assert image.name == "scene <b>1 &amp; 2.tif"  # text, kept as the user typed it
    assert Job.objects.filter(kind="ingest", target_id=image.pk).count() == 1
    assert answer["Geoprompt-Image-Id"] == str(image.pk)

    # The ingest job's first step assembles the parts, then deletes them and the upload.
    image_service.store_original(image)
    storage = get_storage()
    with storage.open_read(image.original_key) as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert not ResumableUpload.objects.exists()
    assert storage.list_keys(f"projects/{cast.project.pk}/uploads") == []
    assert ingest_image(image).status == "ready"


def test_an_upload_above_the_limit_is_refused_with_413_json_and_nothing_is_kept(cast, client_for, settings):
    settings.MAX_RESUMABLE_UPLOAD_BYTES = 1000
    owner = client_for(cast.owner)
    too_big = tus.create(owner, cast.project.pk, 1001, filename="big.tif")
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "too_large" and too_big.json()["field"] == "Upload-Length"

    url = tus.create(owner, cast.project.pk, 1000, filename="ok.tif")["Location"]
    settings.RESUMABLE_CHUNK_BYTES = 1024
    over_the_length = tus.patch(owner, url, 0, b"x" * 1001, checksum=False)
    assert over_the_length.status_code == 413 and over_the_length.json()["code"] == "too_large"
    assert ResumableUpload.objects.get().offset == 0
    assert get_storage().list_keys(f"projects/{cast.project.pk}/uploads") == []


def test_only_owners_speaking_tus_1_0_0_reach_the_endpoint(cast, client_for):
    annotator = tus.create(client_for(cast.annotator), cast.project.pk, 10, filename="a.tif")
    assert annotator.status_code == 403 and annotator.json()["code"] == "forbidden"
    stranger = tus.create(client_for(cast.stranger), cast.project.pk, 10, filename="a.tif")
    assert stranger.status_code == 404
    no_version = client_for(cast.owner).post(f"/api/v1/projects/{cast.project.pk}/uploads/", HTTP_UPLOAD_LENGTH="10")
    assert no_version.status_code == 412 and no_version["Tus-Version"] == "1.0.0"
    options = client_for(cast.owner).options(f"/api/v1/projects/{cast.project.pk}/uploads/")
    assert options.status_code == 204
    assert "checksum" in options["Tus-Extension"] and options["Tus-Checksum-Algorithm"] == "sha1"


class DroppedConnection(io.BytesIO):
    """A request body whose client goes away after what it holds (Django raises UnreadablePostError)."""

    def read(self, size=-1):
        data = super().read(size)
        if not data:
            raise UnreadablePostError("connection reset")
        return data


def test_a_part_cut_off_mid_way_keeps_nothing(cast):
    upload = resumable.create_upload(cast.project, cast.owner, "100", tus.metadata(filename="a.tif"))
    with pytest.raises(InvalidInput):
        resumable.receive_chunk(upload, "0", "60", None, io.BytesIO(b"x" * 30), cast.owner)
    with pytest.raises(InvalidInput):
        resumable.receive_chunk(upload, "0", "60", None, DroppedConnection(b"x" * 30), cast.owner)
    upload.refresh_from_db()
    assert upload.offset == 0 and upload.parts == []
    assert get_storage().list_keys(upload.storage_prefix) == []


def test_expired_uploads_are_swept_with_their_parts_and_finished_ones_are_not(cast):
    def upload_with_a_part(length: int) -> ResumableUpload:
        upload = resumable.create_upload(cast.project, cast.owner, str(length), tus.metadata(filename="f.tif"))
        resumable.receive_chunk(upload, "0", "10", None, io.BytesIO(b"y" * 10), cast.owner)
        upload.refresh_from_db()
        return upload

    unfinished, finished = upload_with_a_part(20), upload_with_a_part(10)
    assert finished.image is not None
    storage = get_storage()
    assert storage.list_keys(unfinished.storage_prefix)

    assert resumable.sweep_expired() == []  # not expired yet
    later = timezone.now() + timedelta(hours=25)
    assert resumable.sweep_expired(now=later) == [str(unfinished.pk)]
    assert list(ResumableUpload.objects.all()) == [finished]
    assert storage.list_keys(unfinished.storage_prefix) == []
    assert storage.list_keys(finished.storage_prefix)  # the ingest job's to assemble
