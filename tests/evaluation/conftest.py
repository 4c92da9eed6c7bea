"""Approved polygons on an encoded reference image, drawn in image pixels and stored in EPSG:4326."""

from __future__ import annotations

import pytest
from affine import Affine
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from pyproj import Transformer
from shapely.geometry import Polygon


def pixel_polygon_4326(image, ring_px: list[tuple[float, float]]) -> MultiPolygon:
    """A polygon given in image pixels (col, row), as a MultiPolygon in EPSG:4326."""
    to_crs = Affine.from_gdal(*image.geotransform)
    to_4326 = Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True)
    ring = [to_4326.transform(*(to_crs @ p)) for p in ring_px]
    return MultiPolygon(GEOSGeometry(Polygon(ring).wkt, srid=4326), srid=4326)


@pytest.fixture
def approved(cast):
    """A factory: an approved annotation on ``image``, a square (or any ring) in image pixels."""
    from annotator.models import Annotation

    def make(image, col: float, row: float, half: float = 20.0, label_class=None, ring=None, state="approved"):
        ring = ring or [
            (col - half, row - half),
            (col + half, row - half),
            (col + half, row + half),
            (col - half, row + half),
        ]
        return Annotation.objects.create(
            project=image.project,
            image=image,
            label_class=label_class,
            author=cast.annotator,
            geometry=pixel_polygon_4326(image, ring),
            area_m2=(2 * half) ** 2 * 25.0,
            state=state,
        )

    return make
