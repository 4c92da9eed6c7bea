"""Large rasters for the benchmarks, built from the reference scenes in ``fixtures/rasters/``.

Every raster is written block by block (512 x 512), so only the small source scene and one
block are ever in memory, never the whole image.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RASTERS = REPO / "fixtures" / "rasters"


def write_large_raster(
    source: Path,
    path: Path,
    size: int,
    *,
    dtype: str | None = None,
    nodata: float | None = None,
    nodata_columns: float = 0.0,
) -> Path:
    """Write a ``size`` x ``size`` px tiled GeoTIFF that repeats ``source`` (same CRS and pixel size).

    Uncompressed, as ingest compresses it into the COG. The source's bands, colour
    interpretation (alpha included) and nodata are kept.

    Args:
        source: a reference raster.
        path: the GeoTIFF to write.
        size: width and height in pixels.
        dtype: another data type for the pixels; a float type gets the source's values
            divided by the maximum of the source's integer type (reflectance-like, 0..1).
        nodata: another nodata value (NaN allowed).
        nodata_columns: the share of columns, at the right edge, set to ``nodata`` (an
            orthomosaic's empty collar), 0..1.
    Returns:
        ``path``.
    """
    import numpy as np
    import rasterio
    from rasterio.windows import Window as RioWindow

    with rasterio.open(source) as src:
        scene = src.read()
        profile = src.profile.copy()
        colorinterp = src.colorinterp
    if dtype is not None and np.dtype(dtype) != scene.dtype:
        if np.issubdtype(np.dtype(dtype), np.floating) and np.issubdtype(scene.dtype, np.integer):
            scene = (scene / np.iinfo(scene.dtype).max).astype(dtype)
        else:
            scene = scene.astype(dtype)
        profile["dtype"] = dtype
    if nodata is not None:
        profile["nodata"] = nodata
    _, scene_h, scene_w = scene.shape
    profile.update(
        width=size, height=size, tiled=True, blockxsize=512, blockysize=512, compress=None, BIGTIFF="IF_SAFER"
    )
    profile.pop("photometric", None)
    if nodata_columns and profile.get("nodata") is None:
        raise ValueError("an empty collar needs a nodata value")
    first_empty = size - round(size * nodata_columns)
    with rasterio.open(path, "w", **profile) as dst:
        dst.colorinterp = colorinterp
        for row in range(0, size, 512):
            rows = np.arange(row, min(row + 512, size)) % scene_h
            for col in range(0, size, 512):
                cols = np.arange(col, min(col + 512, size)) % scene_w
                block = scene[:, rows][:, :, cols]
                if col + len(cols) > first_empty:
                    block = block.copy()
                    block[:, :, max(0, first_empty - col) :] = profile["nodata"]
                dst.write(block, window=RioWindow(col, row, len(cols), len(rows)))
    return path
