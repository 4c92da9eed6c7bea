"""Signed, expiring tile tokens: the only way the tiler learns which file to read.

The web app signs a token naming one image's COG, its rendering defaults and the member it
was issued to; the tiler verifies it with the same secret and reads nothing else. A token
is only as good as its holder's membership: the tiler checks that the member still belongs
to the image's project (:func:`check_access`), so removing a member revokes their tokens
within ``ACCESS_RECHECK_S`` seconds, whatever the token's age.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from annotator.models import Image, Membership

# How long the tiler trusts one membership check, in seconds: a removed member's tiles stop
# within this delay, and a map of 20 tiles costs one query instead of 20.
ACCESS_RECHECK_S = 5.0
_ACCESS_CACHE_MAX = 10_000
_access_cache: dict[tuple[int, int], tuple[float, bool]] = {}
_access_lock = threading.Lock()

SALT = "geoprompt.tiles.v1"
COG_KEY_PATTERN = re.compile(r"^projects/\d+/images/\d+/cog\.tif$")


class TileTokenError(Exception):
    """The token is forged, expired, or names something other than a Geoprompt COG."""


@dataclass(frozen=True)
class TileClaims:
    image_id: int
    project_id: int
    user_id: int
    cog_key: str
    bidx: list[int]
    rescale: list[list[float]]


def issue_token(image: Image, user) -> str:
    """A token for one image's COG issued to ``user`` (a member of the image's project).

    Valid for ``TILE_TOKEN_MAX_AGE_S`` seconds, and only while ``user`` stays a member.
    """
    payload = {
        "i": image.pk,
        "p": image.project_id,
        "u": user.pk,
        "k": image.cog_key,
        "b": image.band_mapping,
        "r": image.stretch,
    }
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
            project_id=int(payload["p"]),
            user_id=int(payload["u"]),
            cog_key=str(payload["k"]),
            bidx=[int(b) for b in payload["b"]],
            rescale=[[float(lo), float(hi)] for lo, hi in payload["r"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TileTokenError("malformed tile token") from exc
    if not COG_KEY_PATTERN.match(claims.cog_key):
        raise TileTokenError("tile token names no Geoprompt image")
    return claims


def check_access(claims: TileClaims) -> None:
    """Refuse a token whose member has left the image's project.

    The answer for one (user, project) is kept ``ACCESS_RECHECK_S`` seconds. A deleted
    image is not refused here: its files are gone, and the tiler answers 404.

    Raises:
        TileTokenError: the member no longer belongs to the image's project.
    """
    key = (claims.user_id, claims.project_id)
    now = time.monotonic()
    with _access_lock:
        cached = _access_cache.get(key)
    if cached is None or now - cached[0] > ACCESS_RECHECK_S:
        allowed = Membership.objects.filter(project_id=claims.project_id, user_id=claims.user_id).exists()
        with _access_lock:
            if len(_access_cache) >= _ACCESS_CACHE_MAX:
                _access_cache.clear()
            _access_cache[key] = (now, allowed)
    else:
        allowed = cached[1]
    if not allowed:
        raise TileTokenError("this tile token's holder is no longer a member of the image's project")


def tile_url_template(image: Image, user) -> str:
    """XYZ URL template (Web Mercator, 256 px PNG) for Leaflet, with a fresh token for ``user``."""
    base = settings.TILER_URL.rstrip("/")
    return f"{base}/images/{issue_token(image, user)}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png"
