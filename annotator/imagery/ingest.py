"""Raster ingest: validation, per-band statistics, band mapping, COG writing, footprint.

Pixel coordinates are (col, row) in the original raster; the footprint is a polygon in
EPSG:4326 made from the densified image outline in the image's own CRS.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np
import rasterio
from django.conf import settings
from django.contrib.gis.geos import Polygon
from rasterio.enums import ColorInterp
from rasterio.errors import RasterioError
from rasterio.shutil import copy as rio_copy
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from annotator.choices import ImageStatus
from annotator.errors import InvalidRaster
from annotator.geometry import recentre, unwrap_longitudes
from annotator.models import Image
from annotator.storage import get_storage

logger = logging.getLogger(__name__)

# Formats accepted on upload. Restricting GDAL's drivers keeps out formats such as VRT
# that can make GDAL read other files on the server.
ALLOWED_DRIVERS = "GTiff"
# GDAL must not look for sidecar files next to an upload.
GDAL_SAFE_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif"}
FOOTPRINT_POINTS_PER_EDGE = 16
# GDAL's block cache while ingest reads and writes, in bytes (rasterio passes an integer to
# GDALSetCacheMax64). GDAL's default is 5 % of the machine's memory, which a large image
# fills; this bound keeps a worker's memory independent of the image. Set around each step
# (process-wide while it runs; rasterio restores the previous value after).
INGEST_GDAL_CACHE_BYTES = 256 * 2**20
# Bytes of pixels and masks the statistics read at once (one window), and keep (the samples).
STATS_CHUNK_BYTES = 64 * 2**20
STATS_SAMPLE_BYTES = 256 * 2**20
TRUNCATED = "The file is truncated or corrupt: some of its pixels cannot be read."


@dataclass(frozen=True)
class BandStats:
    """Statistics of one source band over its valid pixels, in the band's own units."""

    band: int
    minimum: float
    maximum: float
    p2: float
    p98: float
    valid_fraction: float

    def as_dict(self) -> dict:
        return {
            "band": self.band,
            "min": self.minimum,
            "max": self.maximum,
            "p2": self.p2,
            "p98": self.p98,
            "valid_fraction": self.valid_fraction,
        }


def _open(path: str) -> rasterio.io.DatasetReader:
    try:
        return rasterio.open(path, driver=ALLOWED_DRIVERS)
    except RasterioError as exc:
        raise InvalidRaster(
            "The file is not a GeoTIFF that can be read: it may be another format, empty, truncated or corrupt."
        ) from exc


def alpha_bands(src: rasterio.io.DatasetReader) -> list[int]:
    """1-based indexes of bands whose colour interpretation is alpha."""
    return [i + 1 for i, ci in enumerate(src.colorinterp) if ci == ColorInterp.alpha]


def default_band_mapping(colorinterp: list[ColorInterp], alpha: list[int]) -> list[int]:
    """The default three bands shown as R, G, B (1-based), per DESIGN.md.

    Args:
        colorinterp: colour interpretation of every band, in band order.
        alpha: 1-based indexes of alpha bands, which are never mapped.
    Returns:
        Three 1-based band indexes.
    """
    bands = [i + 1 for i in range(len(colorinterp)) if i + 1 not in alpha]
    if not bands:
        raise InvalidRaster("The raster has no bands other than alpha.")
    if len(bands) == 1:
        return [bands[0]] * 3
    if len(bands) == 2:
        return [bands[0], bands[1], bands[0]]
    by_interp = {colorinterp[b - 1]: b for b in bands}
    rgb = [by_interp.get(ColorInterp.red), by_interp.get(ColorInterp.green), by_interp.get(ColorInterp.blue)]
    if all(rgb):
        return rgb
    return bands[:3]


def stretch_for(mapping: list[int], stats: list[dict]) -> list[list[float]]:
    """Per mapped band ``[low, high]`` in source units from the bands' p2/p98."""
    by_band = {s["band"]: s for s in stats}
    result = []
    for band in mapping:
        s = by_band[band]
        low, high = float(s["p2"]), float(s["p98"])
        if not high > low:
            # A constant band would divide by zero in the rescale.
            high = low + 1.0
        result.append([low, high])
    return result


def stretch_to_uint8(bands: np.ndarray, valid: np.ndarray, stretch: list[list[float]]) -> np.ndarray:
    """Apply the image's stretch: ``bands`` [3, H, W] in source units → uint8 RGB [H, W, 3].

    Per band, ``[low, high]`` maps linearly to 0..255 with clipping, truncated to integers
    as TiTiler's ``rescale`` does, so the map tiles and SAM2 see the same values.
    Pixels where ``valid`` [H, W] is false (nodata, alpha, NaN) become 0.
    """
    out = np.empty((bands.shape[1], bands.shape[2], 3), dtype=np.uint8)
    for i, (low, high) in enumerate(stretch):
        # The same operations, in the same order, as rio-tiler's linear_rescale.
        band = np.clip(bands[i], low, high, dtype=np.float64) - low
        band /= np.float64(high - low)
        band *= 255.0
        band[~valid] = 0
        out[..., i] = band.astype(np.uint8)
    return out


def _sample_positions(length: int, factor: int) -> np.ndarray:
    """Pixel indexes along one axis kept by a decimation by ``factor``: the centre of each cell."""
    return np.arange(factor // 2, length, factor)


def _stats_chunks(src: rasterio.io.DatasetReader, band_count: int) -> list[Window]:
    """Windows that tile the raster, aligned to its internal blocks, each about ``STATS_CHUNK_BYTES``.

    Aligned windows let GDAL decode each block once, straight into the array; the
    size bounds what one read holds whatever the image's size.
    """
    block_h, block_w = src.block_shapes[0]
    bytes_per_px = band_count * (np.dtype(src.dtypes[0]).itemsize + 1)  # the pixels and their masks
    chunk_px = max(block_h * block_w, STATS_CHUNK_BYTES // bytes_per_px)
    side = math.isqrt(chunk_px)
    chunk_w = min(src.width, max(block_w, side // block_w * block_w))
    chunk_h = min(src.height, max(block_h, chunk_px // chunk_w // block_h * block_h))
    return [
        Window(col, row, min(chunk_w, src.width - col), min(chunk_h, src.height - row))
        for row in range(0, src.height, chunk_h)
        for col in range(0, src.width, chunk_w)
    ]


def compute_band_stats(src: rasterio.io.DatasetReader, max_pixels: int) -> list[BandStats]:
    """p2/p98/min/max of every band over valid pixels (nodata, NaN and alpha masked), in source units.

    At most about ``max_pixels`` pixels per band are kept: every ``factor``-th pixel along
    each axis (the centre of each ``factor`` x ``factor`` cell), with ``factor`` the
    smallest integer that fits the budget; a budget of at least the image's pixels gives
    the statistics of every pixel. The raster is read once (per ``STATS_SAMPLE_BYTES`` of
    samples: one group of bands), in block-aligned windows of about ``STATS_CHUNK_BYTES``,
    with GDAL's block cache bounded (``INGEST_GDAL_CACHE_BYTES``), so memory does not grow
    with the image. Overviews of the source are not used: their resampling would move the
    percentiles.
    """
    factor = max(1, math.ceil(math.sqrt(src.width * src.height / max_pixels)))
    rows, cols = _sample_positions(src.height, factor), _sample_positions(src.width, factor)
    # Bands are sampled in groups, so that the kept samples of a raster with many bands stay bounded too.
    per_band = rows.size * cols.size * (np.dtype(src.dtypes[0]).itemsize + 1)
    group = max(1, STATS_SAMPLE_BYTES // per_band)
    stats = []
    with rasterio.Env(GDAL_CACHEMAX=INGEST_GDAL_CACHE_BYTES):
        for first in range(1, src.count + 1, group):
            bands = list(range(first, min(first + group, src.count + 1)))
            data, valid = _sample_bands(src, bands, rows, cols)
            stats.extend(_band_stats(band, data[i], valid[i]) for i, band in enumerate(bands))
    return stats


def _sample_bands(
    src: rasterio.io.DatasetReader, bands: list[int], rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of ``bands`` at rows x cols, and whether each is valid: two [bands, rows, cols] arrays."""
    data = np.empty((len(bands), rows.size, cols.size), dtype=src.dtypes[0])
    valid = np.empty((len(bands), rows.size, cols.size), dtype=bool)
    for window in _stats_chunks(src, len(bands)):
        r0, r1 = np.searchsorted(rows, [window.row_off, window.row_off + window.height])
        c0, c1 = np.searchsorted(cols, [window.col_off, window.col_off + window.width])
        if r0 == r1 or c0 == c1:
            continue
        pick = np.ix_(range(len(bands)), rows[r0:r1] - window.row_off, cols[c0:c1] - window.col_off)
        data[:, r0:r1, c0:c1] = src.read(bands, window=window)[pick]
        valid[:, r0:r1, c0:c1] = src.read_masks(bands, window=window)[pick] > 0
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(data)
    return data, valid


def _band_stats(band: int, data: np.ndarray, valid: np.ndarray) -> BandStats:
    values = data[valid]
    if values.size == 0:
        return BandStats(band, 0.0, 0.0, 0.0, 0.0, 0.0)
    p2, p98 = np.percentile(values, [2, 98])
    return BandStats(
        band=band,
        minimum=float(values.min()),
        maximum=float(values.max()),
        p2=float(p2),
        p98=float(p98),
        valid_fraction=float(values.size / data.size),
    )


def footprint_4326(src: rasterio.io.DatasetReader) -> Polygon:
    """The image outline, densified along each edge, as a polygon in EPSG:4326 (lon, lat).

    Longitudes are continuous along the outline (:mod:`annotator.geometry`): an image that
    straddles the antimeridian gets one polygon reaching past ±180°, never one that spans
    the globe the other way round. Its middle longitude lies in [-180, 180).
    """
    n = FOOTPRINT_POINTS_PER_EDGE
    w, h = src.width, src.height
    cols = [w * i / n for i in range(n)] + [w] * n + [w * (n - i) / n for i in range(n)] + [0.0] * n
    rows = [0.0] * n + [h * i / n for i in range(n)] + [h] * n + [h * (n - i) / n for i in range(n)]
    xs, ys = [], []
    for col, row in zip(cols, rows, strict=True):
        x, y = src.transform @ (col, row)
        xs.append(x)
        ys.append(y)
    lons, lats = warp_transform(src.crs, "EPSG:4326", xs, ys)
    lons = recentre(unwrap_longitudes(lons))
    ring = list(zip(lons, lats, strict=True))
    ring.append(ring[0])
    return Polygon(ring, srid=4326)


def georeferenced_by_gcps(src: rasterio.io.DatasetReader) -> bool:
    """True for a raster placed by ground control points (with their CRS) instead of a geotransform."""
    gcps, gcp_crs = src.gcps
    return src.crs is None and bool(gcps) and gcp_crs is not None


def warp_gcps(src_path: str, dst_path: str) -> None:
    """Resample a GCP-georeferenced raster onto a regular grid in the GCPs' CRS (GeoTIFF).

    GDAL fits a polynomial to the ground control points; the output's pixel size keeps
    about as many pixels as the source. Pixels outside the source become nodata (the
    source's nodata value, or an alpha band when it has none). GDAL warps block by block
    with its block cache bounded (``INGEST_GDAL_CACHE_BYTES``).
    """
    with rasterio.Env(GDAL_CACHEMAX=INGEST_GDAL_CACHE_BYTES), _open(src_path) as src:
        gcp_crs = src.gcps[1]
        add_alpha = src.nodata is None and not alpha_bands(src)
        with WarpedVRT(src, src_crs=gcp_crs, crs=gcp_crs, add_alpha=add_alpha) as vrt:
            rio_copy(
                vrt,
                dst_path,
                driver="GTiff",
                tiled=True,
                blockxsize=512,
                blockysize=512,
                compress="deflate",
                BIGTIFF="IF_SAFER",
            )


def _validate(src: rasterio.io.DatasetReader) -> None:
    if src.count == 0:
        raise InvalidRaster("The raster has no bands.")
    if src.crs is None and src.gcps[0]:
        raise InvalidRaster(
            f"The raster is placed by {len(src.gcps[0])} ground control points that have no coordinate "
            "reference system, so it cannot be placed on the map. Give the control points a CRS "
            "(for example with gdal_translate -a_srs) or warp the raster to a CRS, and upload it again."
        )
    if src.crs is None:
        raise InvalidRaster(
            "The raster has no coordinate reference system, so it cannot be placed on the map. "
            "Georeference it (for example with gdal_translate -a_srs) and upload it again."
        )
    if src.transform.is_identity and not src.gcps[0]:
        raise InvalidRaster("The raster has no geotransform, so it cannot be placed on the map.")
    pixels = src.width * src.height
    if pixels > settings.MAX_IMAGE_PIXELS:
        raise InvalidRaster(
            f"The raster has {src.width} x {src.height} = {pixels} pixels, more than the limit of "
            f"{settings.MAX_IMAGE_PIXELS}."
        )


def write_cog(src_path: str, dst_path: str) -> None:
    """Write a Cloud-Optimized GeoTIFF: 512 px internal tiles, deflate, overviews, native CRS.

    rio-cogeo copies the source block by block into a temporary tiled GeoTIFF on disk next
    to ``dst_path`` (never in memory), adds the overviews, then copies it into the COG;
    with GDAL's block cache bounded (``INGEST_GDAL_CACHE_BYTES``) and one thread, memory
    does not grow with the image (``bench/ingest.py``).
    """
    profile = cog_profiles.get("deflate")
    profile.update({"blockxsize": 512, "blockysize": 512, "BIGTIFF": "IF_SAFER"})
    cog_translate(
        src_path,
        dst_path,
        profile,
        overview_resampling="average",
        in_memory=False,
        quiet=True,
        use_cog_driver=False,
        config={"GDAL_CACHEMAX": INGEST_GDAL_CACHE_BYTES},
    )
    is_valid, errors, _warnings = cog_validate(dst_path, quiet=True)
    if not is_valid:
        raise InvalidRaster(f"The Cloud-Optimized GeoTIFF could not be made: {'; '.join(errors)}")


def ingest_image(image: Image, progress=lambda fraction, message: None) -> Image:
    """Validate the upload, compute statistics, write the COG and fill the Image row.

    On any failure the COG and the upload are deleted, the row is left ``failed`` with a
    message, and the error is re-raised.
    """
    storage = get_storage()
    cog_key = f"{image.storage_prefix}/cog.tif"
    image.status = ImageStatus.INGESTING
    image.error = ""
    image.save(update_fields=["status", "error", "updated_at"])
    try:
        with (
            rasterio.Env(**GDAL_SAFE_ENV),
            storage.local_copy(image.original_key, ".tif") as path,
            tempfile.TemporaryDirectory(prefix="geoprompt-ingest-") as workdir,
        ):
            progress(0.05, "reading")
            with _open(path) as src:
                by_gcps = georeferenced_by_gcps(src)
            if by_gcps:
                progress(0.1, "placing the raster by its ground control points")
                warped = os.path.join(workdir, "georeferenced.tif")
                try:
                    warp_gcps(path, warped)
                except RasterioError as exc:
                    logger.warning("GCP warp of image %s failed: %s", image.pk, exc)
                    raise InvalidRaster(
                        "The raster's ground control points could not be turned into a map position "
                        "(too few, or not spread over the image)."
                    ) from exc
                path = warped
            with _open(path) as src:
                _validate(src)
                try:
                    stats = compute_band_stats(src, settings.STATS_MAX_PIXELS)
                except RasterioError as exc:
                    # GDAL's own text ("Read failed. See previous exception") helps nobody.
                    logger.warning("reading image %s failed: %s", image.pk, exc)
                    raise InvalidRaster(TRUNCATED) from exc
                if all(s.valid_fraction == 0 for s in stats):
                    raise InvalidRaster("Every pixel of the raster is nodata.")
                alpha = alpha_bands(src)
                mapping = default_band_mapping(list(src.colorinterp), alpha)
                stat_dicts = [s.as_dict() for s in stats]
                image.width, image.height, image.band_count = src.width, src.height, src.count
                image.dtype = src.dtypes[0]
                image.nodata = src.nodata
                image.crs_wkt = src.crs.to_wkt()
                image.epsg = src.crs.to_epsg()
                image.geotransform = list(src.transform.to_gdal())
                image.footprint = footprint_4326(src)
                image.band_stats = stat_dicts
                image.band_mapping = mapping
                image.stretch = stretch_for(mapping, stat_dicts)
            progress(0.3, "writing the Cloud-Optimized GeoTIFF")
            local_cog = os.path.join(workdir, "cog.tif")
            try:
                write_cog(path, local_cog)
            except RasterioError as exc:
                logger.warning("writing the COG of image %s failed: %s", image.pk, exc)
                raise InvalidRaster(TRUNCATED) from exc
            storage.put_file(local_cog, cog_key)
        image.cog_key = cog_key
        image.status = ImageStatus.READY
        image.save()
        progress(1.0, "ready")
        return image
    except Exception as exc:
        with contextlib.suppress(Exception):
            storage.delete_prefix(image.storage_prefix)
        message = (
            exc.message
            if isinstance(exc, InvalidRaster)
            else "Ingest failed because of an error on the server; the details are in the worker's log."
        )
        if not isinstance(exc, InvalidRaster):
            logger.exception("ingest of image %s failed", image.pk)
        Image.objects.filter(pk=image.pk).update(status=ImageStatus.FAILED, error=message, cog_key="", original_key="")
        image.refresh_from_db()
        raise
