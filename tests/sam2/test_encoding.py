"""SAM2 encoding in-process: preprocessing, equality with the predictor, fp16 store, invalidation.

The model is the real SAM 2.1 tiny architecture with untrained weights seeded from
settings (no checkpoint can be downloaded here); it is built once per test process.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from django.contrib.contenttypes.models import ContentType

from annotator.choices import ImageStatus, JobKind, JobStatus
from annotator.models import FeatureTile, Image, Job
from annotator.sam2 import encode_jobs, encoder, encoding, features
from annotator.sam2 import registry as sam2_models
from annotator.sam2.windows import FEATURE_BYTES_PER_WINDOW
from annotator.storage import get_storage
from tests.support.sam2 import TINY, synthetic_raster, tiny_model

pytestmark = [pytest.mark.sam2, pytest.mark.django_db]


@pytest.fixture(scope="session")
def tiny():
    """The untrained, seeded tiny model (cached per process by the loader)."""
    return tiny_model()


@pytest.fixture(scope="session")
def predictor(tiny):
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    return SAM2ImagePredictor(tiny.model)


def window_rgb(image: Image, index: int = 0) -> np.ndarray:
    window = encoding.image_windows(image)[index]
    with rasterio.open(get_storage().path(image.cog_key)) as src:
        return encoding.read_window_rgb(src, image, window)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def test_the_loader_builds_the_same_untrained_weights_every_time(tiny):
    assert tiny.untrained and tiny.checkpoint_digest.startswith("untrained-")
    assert sam2_models.load_model(TINY) is tiny
    sam2_models._cache.clear()
    try:
        again = sam2_models.load_model(TINY)
        first = dict(tiny.model.named_parameters())
        for name, param in again.model.named_parameters():
            assert torch.equal(param, first[name]), name
    finally:
        sam2_models._cache.clear()
        sam2_models._cache[("full", TINY, "cpu", str(sam2_models.checkpoint_path(TINY)), True, 0)] = tiny


def test_without_a_checkpoint_or_permission_loading_says_how_to_get_one(settings, tmp_path):
    settings.SAM2_ALLOW_UNTRAINED = False
    settings.SAM2_CHECKPOINT_DIR = str(tmp_path)
    with pytest.raises(sam2_models.CheckpointMissing) as caught:
        sam2_models.load_model("sam2.1_hiera_small")
    assert "download_checkpoint sam2.1_hiera_small" in caught.value.message
    assert "GEOPROMPT_SAM2_ALLOW_UNTRAINED" in caught.value.message


def test_the_registry_knows_the_four_sam21_models():
    assert list(sam2_models.MODELS) == [
        "sam2.1_hiera_tiny",
        "sam2.1_hiera_small",
        "sam2.1_hiera_base_plus",
        "sam2.1_hiera_large",
    ]
    large = sam2_models.get_spec("sam2.1_hiera_large")
    assert large.checkpoint_file == "sam2.1_hiera_large.pt"
    assert large.url == "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_large.pt"


def test_preprocessing_applies_band_mapping_and_the_stored_stretch_and_zeroes_nodata(ingested_image):
    image = ingested_image("hillshade_1band_3857.tif")  # nodata 255, exactly 1024 x 1024
    assert image.band_mapping == [1, 1, 1]
    rgb = window_rgb(image)
    with rasterio.open(get_storage().path(image.cog_key)) as src:
        band = src.read(1).astype(np.float64)
        valid = src.read_masks(1) > 0
    low, high = image.stretch[0]
    expected = (np.clip(band, low, high) - low) / (high - low) * 255.0
    expected[~valid] = 0
    assert rgb.shape == (1024, 1024, 3) and rgb.dtype == np.uint8
    assert (~valid).any()
    np.testing.assert_array_equal(rgb[..., 0], expected.astype(np.uint8))
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    assert (rgb[~valid] == 0).all()


def test_preprocessing_pads_a_small_image_and_uses_the_chosen_bands(ingested_image):
    image = ingested_image("naip_rgbn_utm14_2020.tif")  # 934 x 723, 4 bands
    image.band_mapping, image.stretch = [4, 1, 2], [[10.0, 200.0], [0.0, 255.0], [0.0, 255.0]]
    rgb = window_rgb(image)
    with rasterio.open(get_storage().path(image.cog_key)) as src:
        nir = src.read(4).astype(np.float64)
        red = src.read(1)
        valid = src.dataset_mask() > 0
    expected_nir = ((np.clip(nir, 10, 200) - 10) / 190.0 * 255.0).astype(np.uint8)
    expected_nir[~valid] = 0
    np.testing.assert_array_equal(rgb[:723, :934, 0], expected_nir)
    np.testing.assert_array_equal(rgb[:723, :934, 1], np.where(valid, red, 0))
    assert not rgb[723:].any() and not rgb[:, 934:].any()


def test_our_features_equal_the_predictors_set_image_for_the_same_window(ingested_image, tiny, predictor):
    image = ingested_image("landsat_rgb_utm18.tif")
    rgb = window_rgb(image)
    ours = encoder.encode_batch(tiny, [rgb])[0]
    predictor.set_image(rgb)
    theirs = predictor._features
    torch.testing.assert_close(ours["image_embed"], theirs["image_embed"][0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours["high_res_feats_0"], theirs["high_res_feats"][0][0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours["high_res_feats_1"], theirs["high_res_feats"][1][0], rtol=1e-4, atol=1e-4)


def test_decoder_masks_from_fp16_stored_features_match_fp32_features(ingested_image, tiny, predictor):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    result = encoding.encode_image(image)
    (tile,) = FeatureTile.objects.filter(image=image)
    rgb = window_rgb(image)
    predictor.set_image(rgb)
    fp32 = predictor._features
    stored = features.load_window_tensors(tile.storage_key)
    assert {t.dtype for t in stored.values()} == {torch.float16}
    restored = features.to_decoder_inputs(stored)
    assert result.stored_bytes >= FEATURE_BYTES_PER_WINDOW
    rng = np.random.default_rng(7)
    compared = 0
    for _ in range(6):
        point = rng.uniform([50, 50], [880, 670], size=(1, 2))
        predictor._features = fp32
        masks32, scores32, _ = predictor.predict(point, np.array([1]), multimask_output=True)
        predictor._features = {"image_embed": restored.image_embed, "high_res_feats": restored.high_res_feats}
        masks16, scores16, _ = predictor.predict(point, np.array([1]), multimask_output=True)
        for m32, m16 in zip(masks32, masks16, strict=True):
            if m32.sum() > 100:
                assert iou(m32 > 0, m16 > 0) >= 0.99
                compared += 1
        np.testing.assert_allclose(scores16, scores32, atol=0.02)
    assert compared >= 3


def test_encoding_stores_one_tile_per_window_and_resumes_without_duplicates(ingested_image, tiny):
    image = ingested_image("landsat_4band_4326.tif")
    first = encoding.encode_image(image)
    image.refresh_from_db()
    assert image.status == ImageStatus.ENCODED
    assert (first.windows, first.encoded, first.untrained) == (1, 1, True)
    tile = FeatureTile.objects.get(image=image)
    assert (tile.width, tile.height, tile.level, tile.untrained) == (697, 377, 0, True)
    assert tile.checkpoint_digest == tiny.checkpoint_digest and tile.model_name == TINY
    assert Affine.from_gdal(*tile.transform) == Affine.from_gdal(*image.geotransform)
    assert get_storage().size(tile.storage_key) == tile.size_bytes >= FEATURE_BYTES_PER_WINDOW
    again = encoding.encode_image(image)
    assert (again.encoded, again.skipped) == (0, 1)
    assert FeatureTile.objects.filter(image=image).count() == 1
    assert "UNTRAINED" in again.message

    # A crash between the file and its row: the next run rewrites the window whole.
    good = get_storage().read_bytes(tile.storage_key)
    expected = features.load_window_tensors(tile.storage_key)
    tile.delete()
    get_storage().put_bytes(good[: len(good) // 2], tile.storage_key)
    third = encoding.encode_image(image)
    assert (third.encoded, third.skipped) == (1, 0)
    tile = FeatureTile.objects.get(image=image)
    restored = features.load_window_tensors(tile.storage_key)
    for name in features.FEATURE_NAMES:
        torch.testing.assert_close(restored[name], expected[name], rtol=1e-3, atol=1e-3)
    assert get_storage().list_keys(encode_jobs.features_prefix(image)) == [tile.storage_key]


def test_changing_the_project_model_deletes_old_features_and_reencodes(
    ingested_image, tiny, cast, client_for, django_capture_on_commit_callbacks
):
    image = ingested_image("landsat_4band_4326.tif")
    encoding.encode_image(image)
    old = FeatureTile.objects.get(image=image)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(cast.owner).patch(
            f"/api/v1/projects/{cast.project.pk}/", {"sam2_model": "sam2.1_hiera_small"}, format="json"
        )
        assert response.status_code == 200, response.content
    for callback in callbacks:
        if "delete_prefix" in callback.__code__.co_names:
            callback()  # the storage clean-up; the Celery send is run below in-process
    assert not FeatureTile.objects.filter(pk=old.pk).exists()
    assert not get_storage().exists(old.storage_key)
    image.refresh_from_db()
    assert image.status == ImageStatus.READY
    job = Job.objects.get(kind=JobKind.ENCODE, target_type=ContentType.objects.get_for_model(Image), target_id=image.pk)
    assert job.status == JobStatus.QUEUED
    from tasks.jobs import run_job_task

    run_job_task(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    new = FeatureTile.objects.get(image=image)
    assert new.model_name == "sam2.1_hiera_small" and new.cache_key != old.cache_key
    assert get_storage().list_keys(encode_jobs.features_prefix(image)) == [new.storage_key]


def test_other_members_cannot_change_the_model_and_unknown_models_are_refused(cast, client_for):
    url = f"/api/v1/projects/{cast.project.pk}/"
    assert client_for(cast.reviewer).patch(url, {"sam2_model": "sam2.1_hiera_small"}, format="json").status_code == 403
    response = client_for(cast.owner).patch(url, {"sam2_model": "sam3"}, format="json")
    assert response.status_code == 400 and "sam2_model" in response.json()


def test_changing_the_band_mapping_invalidates_features_and_queues_an_encode(ingested_image, tiny, cast, client_for):
    image = ingested_image("naip_rgbn_utm14_2020.tif")
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.ENCODED)
    key = encoding.current_cache_key(image)
    tile = FeatureTile.objects.create(
        image=image,
        model_name=TINY,
        checkpoint_digest=tiny.checkpoint_digest,
        cache_key=key,
        level=0,
        col_off=0,
        row_off=0,
        width=934,
        height=723,
        transform=image.geotransform,
        storage_key="x",
        size_bytes=1,
    )
    response = client_for(cast.owner).patch(f"/api/v1/images/{image.pk}/", {"band_mapping": [4, 3, 2]}, format="json")
    assert response.status_code == 200, response.content
    assert not FeatureTile.objects.filter(pk=tile.pk).exists()
    body = response.json()
    assert body["status"] == ImageStatus.READY
    assert body["job"]["kind"] == JobKind.ENCODE and body["job"]["status"] == JobStatus.QUEUED
    image.refresh_from_db()
    assert encoding.current_cache_key(image) != key


def test_the_api_shows_estimated_then_real_feature_storage_and_the_untrained_flag(
    ingested_image, tiny, cast, client_for
):
    image = ingested_image("landsat_4band_4326.tif")
    url = f"/api/v1/images/{image.pk}/"
    before = client_for(cast.viewer).get(url).json()["encoding"]
    assert before["windows"] == 1 and before["estimated_bytes"] == FEATURE_BYTES_PER_WINDOW
    assert before["stored_bytes"] == 0 and before["untrained"] is True and before["model"] == TINY
    encoding.encode_image(image)
    after = client_for(cast.viewer).get(url).json()["encoding"]
    assert after["encoded_windows"] == 1 and after["stored_bytes"] >= FEATURE_BYTES_PER_WINDOW


def test_a_failed_encode_says_how_to_get_a_checkpoint(ingested_image, settings, tmp_path, cast):
    image = ingested_image("landsat_4band_4326.tif")
    settings.SAM2_ALLOW_UNTRAINED = False
    settings.SAM2_CHECKPOINT_DIR = str(tmp_path)
    job = encode_jobs.start_encode(image, cast.owner)
    from tasks.jobs import run_job_task

    run_job_task(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "download_checkpoint sam2.1_hiera_tiny" in job.error


def test_nodata_is_zero_in_a_float_image_with_nan(tmp_path, cast):
    from tests.support.sam2 import ingest_file

    data = np.linspace(0, 100, 40 * 30, dtype=np.float32).reshape(1, 30, 40)
    data[0, :5, :5] = np.nan
    path = synthetic_raster(
        tmp_path / "f.tif", data, "EPSG:32614", Affine(10, 0, 500000, 0, -10, 5000000), nodata=float("nan")
    )
    image = ingest_file(cast.project, cast.owner, path)
    rgb = window_rgb(image)
    assert (rgb[:5, :5] == 0).all() and rgb[29, 39, 0] == 255


def test_download_checkpoint_writes_atomically_records_the_sha256_and_the_loader_uses_it(tiny, settings, tmp_path):
    import hashlib

    from django.core.management import CommandError, call_command

    source = tmp_path / "source.pt"
    torch.save({"model": tiny.model.state_dict()}, source)
    settings.SAM2_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    with pytest.raises(CommandError):
        call_command("download_checkpoint", TINY, url=(tmp_path / "missing.pt").as_uri())
    assert not any((tmp_path / "checkpoints").iterdir())  # a failed download leaves nothing behind

    call_command("download_checkpoint", TINY, url=source.as_uri())
    target = tmp_path / "checkpoints" / "sam2.1_hiera_tiny.pt"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert target.read_bytes() == source.read_bytes()
    assert (tmp_path / "checkpoints" / "sam2.1_hiera_tiny.pt.sha256").read_text().split()[0] == digest
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [target.name, target.name + ".sha256"]

    loaded = sam2_models.load_model(TINY)  # the same builder, now with the checkpoint file
    try:
        assert (loaded.untrained, loaded.checkpoint_digest) == (False, digest)
        params = dict(tiny.model.named_parameters())
        assert all(torch.equal(p, params[n]) for n, p in loaded.model.named_parameters())
    finally:
        sam2_models._cache.pop((TINY, "cpu", str(target), True, 0), None)
