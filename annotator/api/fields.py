"""Fields shared by the API's serializers."""

from __future__ import annotations

import shapely
from django.contrib.gis.geos import GEOSGeometry
from rest_framework_gis.fields import GeometryField

from annotator.geometry import crosses_antimeridian, split_antimeridian


class Rfc7946GeometryField(GeometryField):
    """A stored EPSG:4326 geometry written as RFC 7946 GeoJSON.

    Geometries of images across the antimeridian are stored in one continuous longitude
    frame (:mod:`annotator.geometry`); on the way out they are cut at ±180°, so every
    longitude lies in [-180, 180].
    """

    def to_representation(self, value):
        if isinstance(value, GEOSGeometry) and not value.empty:
            shape = shapely.from_wkb(bytes(value.wkb))
            if crosses_antimeridian(shape):
                value = GEOSGeometry(memoryview(shapely.to_wkb(split_antimeridian(shape))), srid=value.srid)
        return super().to_representation(value)
