"""Longitude frames and the antimeridian, for geometries in EPSG:4326 (lon, lat in degrees).

An image that straddles ±180° is kept internally in one *continuous frame*: longitudes
run on past 180 (or below -180) so that its footprint is one simple polygon, for example
179.8 → 180.2. Everything a user sends (prompts, annotations) is brought into the frame of
the image it belongs to with :func:`into_frame`, so either convention (-179.95 or
180.05) names the same place. Everything sent out as GeoJSON is made valid RFC 7946 with
:func:`split_antimeridian`: longitudes in [-180, 180], a geometry that crosses the line cut
into parts on each side of it.
"""

from __future__ import annotations

import shapely
from shapely.affinity import translate
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

# A world-wide strip on each side of the antimeridian, used to cut geometries.
_EAST_OF_180 = box(180.0, -90.0, 540.0, 90.0)
_WEST_OF_MINUS_180 = box(-540.0, -90.0, -180.0, 90.0)
_WORLD = box(-180.0, -90.0, 180.0, 90.0)


def unwrap_longitudes(lons: list[float]) -> list[float]:
    """Longitudes along a path, shifted by multiples of 360° so that no step exceeds 180°.

    The first point keeps its longitude; the path may end up outside [-180, 180].
    """
    out = [float(lons[0])]
    for lon in lons[1:]:
        lon = float(lon)
        previous = out[-1]
        while lon - previous > 180.0:
            lon -= 360.0
        while lon - previous < -180.0:
            lon += 360.0
        out.append(lon)
    return out


def recentre(lons: list[float]) -> list[float]:
    """Shift a continuous run of longitudes by a multiple of 360° so that its middle lies in [-180, 180)."""
    middle = (min(lons) + max(lons)) / 2.0
    shift = 360.0 * ((middle + 180.0) // 360.0)
    return [lon - shift for lon in lons]


def into_frame(geometry: BaseGeometry, frame: BaseGeometry) -> BaseGeometry:
    """``geometry`` shifted by a multiple of 360° in longitude to where it best meets ``frame``.

    Args:
        geometry: a geometry in EPSG:4326, in either longitude convention.
        frame: the continuous-frame geometry it should be compared with (an image footprint).
    Returns:
        The shifted geometry, or ``geometry`` unchanged when no shift brings it closer.
    """
    fx0, _fy0, fx1, _fy1 = frame.bounds
    centre = (fx0 + fx1) / 2.0
    gx0, _gy0, gx1, _gy1 = geometry.bounds
    offset = 360.0 * round((centre - (gx0 + gx1) / 2.0) / 360.0)
    return translate(geometry, xoff=offset) if offset else geometry


def crosses_antimeridian(geometry: BaseGeometry) -> bool:
    """True when a continuous-frame geometry reaches beyond ±180° longitude."""
    x0, _y0, x1, _y1 = geometry.bounds
    return x0 < -180.0 or x1 > 180.0


def split_antimeridian(geometry: BaseGeometry) -> BaseGeometry:
    """A continuous-frame (multi)polygon as valid RFC 7946: parts beyond ±180° moved back by 360°.

    A geometry inside [-180, 180] is returned unchanged. Polygonal input gives a Polygon or
    a MultiPolygon; the parts on each side end exactly on the antimeridian.
    """
    if not crosses_antimeridian(geometry):
        return geometry
    parts = [
        shapely.intersection(geometry, _WORLD),
        translate(shapely.intersection(geometry, _EAST_OF_180), xoff=-360.0),
        translate(shapely.intersection(geometry, _WEST_OF_MINUS_180), xoff=360.0),
    ]
    polygons: list[Polygon] = []
    for part in parts:
        for piece in getattr(part, "geoms", [part]):
            if isinstance(piece, Polygon) and not piece.is_empty and piece.area > 0:
                polygons.append(piece)
    if len(polygons) == 1:
        return polygons[0]
    return MultiPolygon(polygons)


def rfc7946_bbox(geometry: BaseGeometry) -> list[float]:
    """``[west, south, east, north]`` of a continuous-frame geometry per RFC 7946 §5.2.

    For a geometry crossing the antimeridian, both edges are moved into [-180, 180), so
    ``west`` > ``east``.
    """
    west, south, east, north = geometry.bounds
    if not crosses_antimeridian(geometry):
        return [west, south, east, north]
    return [_wrap(west), south, _wrap(east), north]


def _wrap(lon: float) -> float:
    """A longitude in [-180, 180)."""
    return ((lon + 180.0) % 360.0) - 180.0


def polygon_iou(a: BaseGeometry, b: BaseGeometry) -> float:
    """Intersection over union of two shapely (Multi)Polygons in the same planar CRS; 0 when both are empty."""
    overlap = shapely.area(shapely.intersection(a, b))
    # Most pairs a caller tests are only bounding-box neighbours: no union to build for them.
    if overlap <= 0:
        return 0.0
    return float(overlap / shapely.area(shapely.union(a, b)))
