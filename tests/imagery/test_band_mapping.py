"""An owner changes which bands an image shows and their stretch: SAM2 encodes it again."""

from __future__ import annotations

from annotator.choices import ImageStatus, JobKind, JobStatus
from annotator.models import FeatureTile, Job


def _encode_jobs(image):
    return Job.objects.filter(kind=JobKind.ENCODE, target_id=image.pk)


def _feature_tile(image):
    return FeatureTile.objects.create(
        image=image,
        model_name="sam2.1_hiera_tiny",
        checkpoint_digest="untrained",
        cache_key="k" * 40,
        level=0,
        col_off=0,
        row_off=0,
        width=934,
        height=723,
        transform=[0, 1, 0, 0, 0, -1],
        storage_key=f"{image.storage_prefix}/features/0_0_0.safetensors",
    )


def test_a_new_stretch_queues_an_encode_by_the_owner_and_drops_the_old_features(cast, client_for, ingested_image):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    image.status = ImageStatus.ENCODED
    image.save(update_fields=["status"])
    _feature_tile(image)
    stretch = [[10.0, 200.0], [20.0, 210.0], [30.0, 220.0]]

    response = client_for(cast.owner).patch(
        f"/api/v1/images/{image.pk}/", {"band_mapping": [4, 3, 2], "stretch": stretch}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["band_mapping"] == [4, 3, 2] and body["stretch"] == stretch
    assert body["status"] == ImageStatus.READY
    job = _encode_jobs(image).get()
    assert job.status == JobStatus.QUEUED and job.created_by == cast.owner
    assert body["job"]["id"] == job.pk and body["job"]["kind"] == "encode"
    assert not FeatureTile.objects.filter(image=image).exists()


def test_saving_the_same_bands_and_stretch_again_queues_nothing(cast, client_for, ingested_image):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    response = client_for(cast.owner).patch(
        f"/api/v1/images/{image.pk}/", {"band_mapping": image.band_mapping, "stretch": image.stretch}, format="json"
    )
    assert response.status_code == 200, response.content
    assert not _encode_jobs(image).exists()


def test_an_annotator_may_not_change_the_bands(cast, client_for, ingested_image):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    response = client_for(cast.annotator).patch(
        f"/api/v1/images/{image.pk}/", {"band_mapping": [4, 3, 2]}, format="json"
    )
    assert response.status_code == 403
    image.refresh_from_db()
    assert image.band_mapping == [1, 2, 3]
    assert not _encode_jobs(image).exists()


def test_a_failed_image_has_no_bands_to_change(cast, client_for, image):
    image.status = ImageStatus.FAILED
    image.error = "The file is not a GeoTIFF that can be read."
    image.band_count = None
    image.save()
    response = client_for(cast.owner).patch(f"/api/v1/images/{image.pk}/", {"band_mapping": [1, 1, 1]}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "band_mapping"
