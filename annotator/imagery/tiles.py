"""Signed, expiring tile tokens: the only way the tiler learns which file to read.

The web app signs a token naming one image's COG and its rendering defaults; the tiler
verifies it with the same secret and reads nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from annotator.models import Image

SALT = "geoprompt.tiles.v1"
COG_KEY_PATTERN = re.compile(r"^projects/\d+/images/\d+/cog\.tif$")


class TileTokenError(Exception):
    """The token is forged, expired, or names something other than a Geoprompt COG."""


@dataclass(frozen=True)
class TileClaims:
    image_id: int
    cog_key: str
    bidx: list[int]
    rescale: list[list[float]]


def issue_token(image: Image) -> str:
    """A token for one image's COG, valid for ``TILE_TOKEN_MAX_AGE_S`` seconds."""
    payload = {"i": image.pk, "k": image.cog_key, "b": image.band_mapping, "r": image.stretch}
    return signing.dumps(payload, salt=SALT, compress=True)


def read_token(token: str, max_age_s: int | None = None) -> TileClaims:
    """Verify a token's signature and age, and check the key it names."""
    try:
        payload = signing.loads(
            token, salt=SALT, max_age=max_age_s if max_age_s is not None else settings.TILE_TOKEN_MAX_AGE_S
        )
    except signing.SignatureExpired as exc:
        raise TileTokenError("expired tile token") from exc
    except signing.BadSignature as exc:
        raise TileTokenError("invalid tile token") from exc
    try:
        claims = TileClaims(
            image_id=int(payload["i"]),
            cog_key=str(payload["k"]),
            bidx=[int(b) for b in payload["b"]],
            rescale=[[float(lo), float(hi)] for lo, hi in payload["r"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TileTokenError("malformed tile token") from exc
    if not COG_KEY_PATTERN.match(claims.cog_key):
        raise TileTokenError("tile token names no Geoprompt image")
    return claims


def tile_url_template(image: Image) -> str:
    """XYZ URL template (Web Mercator, 256 px PNG) for Leaflet, with a fresh token."""
    base = settings.TILER_URL.rstrip("/")
    return f"{base}/images/{issue_token(image)}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png"
