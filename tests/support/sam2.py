"""Helpers shared by the SAM2 tests: bigger rasters made from the reference data, the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from tests.support.rasters import data_file

TINY = "sam2.1_hiera_tiny"


def resampled_raster(path: Path, width: int, height: int, source: str = "naip_rgbn_utm14_2020.tif") -> Path:
    """Write ``source`` resampled to ``width`` x ``height`` px (same footprint, same CRS) at ``path``."""
    with rasterio.open(data_file(source)) as src:
        data = src.read(out_shape=(src.count, height, width), resampling=Resampling.bilinear)
        profile = src.profile.copy()
        transform = src.transform @ Affine.scale(src.width / width, src.height / height)
    profile.update(width=width, height=height, transform=transform, tiled=True, blockxsize=256, blockysize=256)
    profile.pop("photometric", None)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def synthetic_raster(path: Path, array: np.ndarray, crs: str, transform, nodata: float | None = None) -> Path:
    """Write a [bands, rows, cols] array as a GeoTIFF."""
    bands, height, width = array.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=bands,
        dtype=array.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        tiled=True,
        blockxsize=256,
        blockysize=256,
    ) as dst:
        dst.write(array)
    return path


def ingest_file(project, user, path: Path, name: str | None = None):
    """Store a local raster as an upload and ingest it synchronously."""
    from annotator.imagery import ingest as imagery
    from annotator.models import Image
    from annotator.storage import get_storage

    image = Image.objects.create(project=project, name=name or path.name, uploaded_by=user)
    image.original_key = f"{image.storage_prefix}/original.tif"
    get_storage().put_file(path, image.original_key)
    image.save()
    return imagery.ingest_image(image)


def tiny_model():
    """The untrained, seeded tiny model, built once per process by the loader.

    The suite runs SAM2 without checkpoints; conftest asks for that through the environment,
    which is read before conftest runs, so the setting is applied here as well.
    """
    from django.conf import settings

    from annotator.sam2 import registry as sam2_models

    settings.SAM2_ALLOW_UNTRAINED = True
    return sam2_models.load_model(TINY)


_encoded: dict[tuple[str, str], list[tuple[dict, bytes]]] = {}


def encode_cached(image):
    """Encode ``image`` for real the first time its source and cache key are seen in this
    process; later images of the same source get the same stored features (files and rows)
    copied, which keeps the suite fast. Returns the image, refreshed."""
    from annotator.models import FeatureTile
    from annotator.sam2 import encode_jobs, encoding
    from annotator.storage import get_storage

    tiny_model()
    key = encoding.current_cache_key(image)
    cache_id = (image.name, key)
    storage = get_storage()
    if cache_id not in _encoded:
        encoding.encode_image(image)
        rows = []
        for tile in FeatureTile.objects.filter(image=image):
            fields = {
                f.name: getattr(tile, f.name)
                for f in FeatureTile._meta.fields
                if f.name not in ("id", "image", "created_at")
            }
            rows.append((fields, storage.read_bytes(tile.storage_key)))
        _encoded[cache_id] = rows
    else:
        for fields, data in _encoded[cache_id]:
            name = fields["storage_key"].rsplit("/", 1)[1]
            storage_key = f"{encode_jobs.features_prefix(image)}/{key}/{name}"
            storage.put_bytes(data, storage_key)
            FeatureTile.objects.create(image=image, **{**fields, "storage_key": storage_key})
        image.status = "encoded"
        image.save(update_fields=["status"])
    image.refresh_from_db()
    return image
