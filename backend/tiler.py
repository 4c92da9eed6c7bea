"""The tile server: TiTiler's factory on FastAPI, reading only Geoprompt COGs.

Every route lives under ``/images/{token}``: the token, signed by the web app, names the
COG and its rendering defaults (band mapping as ``bidx`` and stretch as ``rescale``), so
the map shows what SAM2 sees. There is no ``url=`` parameter and no other way to name a
file. Run with ``uvicorn backend.tiler:app``.

Every output is bounded: no side of a rendered image (preview, statistics, tiles, parts)
may pass ``settings.TILER_MAX_SIZE`` pixels, whether asked for (``width``, ``height``,
``max_size``, ``tilesize``, ``/{width}x{height}``) or derived from the image's shape, and
band indexes must exist in the image. Both are refused with 400 and a JSON ``detail``
before any pixel is read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Annotated, Any

import django
from django.db import connections
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from rasterio.crs import CRS
from rasterio.warp import calculate_default_transform, transform_bounds
from rio_tiler.constants import WGS84_CRS
from rio_tiler.expression import parse_expression
from rio_tiler.io import Reader
from rio_tiler.types import BBox, Indexes
from rio_tiler.utils import cast_to_sequence, get_vrt_transform, output_size
from titiler.core.dependencies import (
    DefaultDependency,
    ImageRenderingParams,
    PartFeatureParams,
    PreviewParams,
)
from titiler.core.errors import DEFAULT_STATUS_CODES, add_exception_handlers
from titiler.core.factory import TilerFactory

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django.setup()

from django.conf import settings  # noqa: E402

from annotator.imagery.ingest import GDAL_SAFE_ENV  # noqa: E402
from annotator.imagery.tiles import TileClaims, TileTokenError, check_access, read_token  # noqa: E402
from annotator.storage import get_storage  # noqa: E402


def token_claims(token: Annotated[str, Path(description="Tile token issued by the Geoprompt API")]) -> TileClaims:
    try:
        claims = read_token(token)
        check_access(claims)
    except TileTokenError as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc
    finally:
        # The membership check runs in FastAPI's worker threads, where Django's request
        # signals never close connections; it queries at most once per ACCESS_RECHECK_S.
        connections.close_all()
    return claims


def cog_path(claims: Annotated[TileClaims, Depends(token_claims)]) -> str:
    storage = get_storage()
    if not storage.exists(claims.cog_key):
        raise HTTPException(status_code=404, detail="image not found")
    return storage.uri(claims.cog_key)


@dataclass
class MappedBands(DefaultDependency):
    """Band indexes; defaults to the image's band mapping."""

    claims: Annotated[TileClaims | None, Depends(token_claims)] = None
    indexes: Annotated[list[int] | None, Query(alias="bidx", description="Dataset band indexes")] = None

    def as_dict(self, exclude_none: bool = True) -> dict:
        return {"indexes": self.indexes or self.claims.bidx}


@dataclass
class StretchedRendering(ImageRenderingParams):
    """Rendering options; ``rescale`` defaults to the image's stretch."""

    claims: Annotated[TileClaims | None, Depends(token_claims)] = None

    def as_dict(self, exclude_none: bool = True) -> dict:
        options = super().as_dict(exclude_none)
        options.pop("claims", None)
        if not options.get("rescale"):
            options["rescale"] = [tuple(pair) for pair in self.claims.rescale]
        return options


def gdal_env() -> dict:
    """GDAL options for every read: no directory listings, and the storage's S3 endpoint."""
    return {**GDAL_SAFE_ENV, **get_storage().gdal_options()}


# --- output bounds -------------------------------------------------------------------------

SIZE_PARAMETERS = ("width", "height", "max_size", "tilesize")
# ``/preview/{width}x{height}.png`` (and ``/bbox/.../{width}x{height}.png``, ``/feature/...``).
PATH_SIZE = re.compile(r"/(\d+)x(\d+)\.[A-Za-z0-9]+$")


class OutputTooLarge(Exception):
    """A rendered image would have a side longer than ``settings.TILER_MAX_SIZE`` pixels."""


class BandOutOfRange(Exception):
    """A band index (``bidx`` or a ``b<n>`` of an expression) that the image does not have."""


def _too_large_message(height: int, width: int, limit: int) -> str:
    return (
        f"The output would be {width} x {height} pixels; the tiler renders at most {limit} pixels "
        f"on a side (width, height, max_size, tilesize)."
    )


def check_output_size(height: int, width: int) -> None:
    """Refuse an output image of ``height`` x ``width`` pixels above the configured side limit.

    Raises:
        OutputTooLarge: either side is longer than ``settings.TILER_MAX_SIZE`` pixels.
    """
    limit = settings.TILER_MAX_SIZE
    if height > limit or width > limit:
        raise OutputTooLarge(_too_large_message(height, width, limit))


class BoundedReader(Reader):
    """rio-tiler's COG reader that refuses outputs above the size limit and unknown bands.

    ``read`` (preview, statistics) and ``part`` (tiles, bbox, feature) are the two ways
    rio-tiler reads pixels; each computes the output shape with rio-tiler's own rules
    (:func:`rio_tiler.utils.output_size`) before reading, so a size derived from the image
    (one of width/height given, or none) is bounded as well as a size asked for.
    """

    def _check_bands(self, indexes: Indexes | None, expression: str | None) -> None:
        requested = parse_expression(expression) if expression else cast_to_sequence(indexes)
        count = self.dataset.count
        for index in requested or ():
            if not 1 <= int(index) <= count:
                raise BandOutOfRange(f"Band {index} does not exist: this image has bands 1 to {count}.")

    def read(self, indexes: Indexes | None = None, expression: str | None = None, **kwargs: Any):
        """As :meth:`Reader.read`, after checking bands and the output shape (pixels)."""
        self._check_bands(indexes, expression)
        height, width = self.dataset.height, self.dataset.width
        dst_crs = kwargs.get("dst_crs")
        if dst_crs and dst_crs != self.dataset.crs:
            # The shape of the WarpedVRT rio-tiler reads through (GDAL's default warp size).
            _transform, width, height = calculate_default_transform(
                self.dataset.crs, dst_crs, self.dataset.width, self.dataset.height, *self.dataset.bounds
            )
        window = kwargs.get("window")
        if window is not None and hasattr(window, "height"):
            height, width = window.height, window.width
        check_output_size(
            *output_size(
                dataset_height=height,
                dataset_width=width,
                output_height=kwargs.get("height"),
                output_width=kwargs.get("width"),
                max_size=kwargs.get("max_size"),
            )
        )
        return super().read(indexes=indexes, expression=expression, **kwargs)

    def part(
        self,
        bbox: BBox,
        dst_crs: CRS | None = None,
        bounds_crs: CRS = WGS84_CRS,
        indexes: Indexes | None = None,
        expression: str | None = None,
        max_size: int | None = None,
        height: int | None = None,
        width: int | None = None,
        buffer: float | None = None,
        **kwargs: Any,
    ):
        """As :meth:`Reader.part`, after checking bands and the output shape (pixels)."""
        self._check_bands(indexes, expression)
        if height and width:
            shape = (height, width)
        elif max_size and not (height or width):
            shape = (max_size, max_size)  # at most; rio-tiler keeps the bbox's aspect ratio
        else:
            # Derived from the bbox at the image's resolution, as rio_tiler.reader.part does.
            target_crs = dst_crs or bounds_crs
            bounds = bbox
            if bounds_crs and bounds_crs != target_crs:
                bounds = transform_bounds(bounds_crs, target_crs, *bbox, densify_pts=21)
            _transform, vrt_width, vrt_height = get_vrt_transform(
                self.dataset, bounds, height, width, dst_crs=target_crs
            )
            shape = output_size(
                dataset_height=vrt_height, dataset_width=vrt_width, output_height=height, output_width=width
            )
        check_output_size(*shape)
        return super().part(
            bbox,
            dst_crs=dst_crs,
            bounds_crs=bounds_crs,
            indexes=indexes,
            expression=expression,
            max_size=max_size,
            height=height,
            width=width,
            buffer=buffer,
            **kwargs,
        )

    def point(self, lon: float, lat: float, indexes: Indexes | None = None, expression: str | None = None, **kwargs):
        """As :meth:`Reader.point`, after checking bands."""
        self._check_bands(indexes, expression)
        return super().point(lon, lat, indexes=indexes, expression=expression, **kwargs)


@dataclass
class BoundedPreviewParams(PreviewParams):
    """Preview and statistics sizes: the default ``max_size`` (1024) never passes the limit.

    Sizes asked for above the limit were refused by :func:`refuse_oversized_outputs`.
    """

    def __post_init__(self):
        super().__post_init__()
        if self.max_size:
            self.max_size = min(self.max_size, settings.TILER_MAX_SIZE)


@dataclass
class BoundedPartParams(PartFeatureParams):
    """Sizes of bbox/feature reads (and feature statistics): without any, read at most the size limit.

    rio-tiler reads a feature at the image's full resolution when no size is given; the
    limit as ``max_size`` keeps statistics of a large feature to a bounded, decimated read.
    """

    def __post_init__(self):
        super().__post_init__()
        if not (self.width or self.height or self.max_size):
            self.max_size = settings.TILER_MAX_SIZE


cog = TilerFactory(
    reader=BoundedReader,
    router_prefix="/images/{token}",
    path_dependency=cog_path,
    layer_dependency=MappedBands,
    render_dependency=StretchedRendering,
    img_preview_dependency=BoundedPreviewParams,
    img_part_dependency=BoundedPartParams,
    environment_dependency=gdal_env,
    add_viewer=False,
    add_part=False,
)

app = FastAPI(title="Geoprompt tiler", openapi_url=None, docs_url=None, redoc_url=None)


@app.middleware("http")
async def refuse_named_sources(request: Request, call_next):
    """No request may name a file or URL itself; only the token does."""
    if any(name in request.query_params for name in ("url", "path", "file", "src")):
        return JSONResponse({"detail": "datasets are addressed by tile token only"}, status_code=403)
    return await call_next(request)


@app.middleware("http")
async def refuse_oversized_outputs(request: Request, call_next):
    """Sizes asked for above the limit are refused before the token or the file is looked at.

    Non-integer values pass through to FastAPI's own validation (422).
    """
    limit = settings.TILER_MAX_SIZE
    asked = {name: request.query_params.get(name) for name in SIZE_PARAMETERS}
    in_path = PATH_SIZE.search(request.url.path)
    if in_path:
        asked["width"], asked["height"] = in_path.groups()
    for name, raw in asked.items():
        if raw is None or not raw.strip().isdigit():
            continue
        if int(raw) > limit:
            return JSONResponse(
                {"detail": f"{name}={int(raw)} is too large: the tiler renders at most {limit} pixels on a side."},
                status_code=400,
            )
    return await call_next(request)


app.include_router(cog.router, prefix="/images/{token}")
add_exception_handlers(app, {**DEFAULT_STATUS_CODES, OutputTooLarge: 400, BandOutOfRange: 400})


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}
