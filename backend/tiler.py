"""The tile server: TiTiler's factory on FastAPI, reading only Geoprompt COGs.

Every route lives under ``/images/{token}``: the token, signed by the web app, names the
COG and its rendering defaults (band mapping as ``bidx`` and stretch as ``rescale``), so
the map shows what SAM2 sees. There is no ``url=`` parameter and no other way to name a
file. Run with ``uvicorn backend.tiler:app``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

import django
from django.db import connections
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from titiler.core.dependencies import DefaultDependency, ImageRenderingParams
from titiler.core.errors import DEFAULT_STATUS_CODES, add_exception_handlers
from titiler.core.factory import TilerFactory

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django.setup()

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
    return dict(GDAL_SAFE_ENV)


cog = TilerFactory(
    router_prefix="/images/{token}",
    path_dependency=cog_path,
    layer_dependency=MappedBands,
    render_dependency=StretchedRendering,
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


app.include_router(cog.router, prefix="/images/{token}")
add_exception_handlers(app, DEFAULT_STATUS_CODES)


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}
