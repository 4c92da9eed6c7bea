"""Helpers of the agreement tests: boxes drawn in metres (UTM zone 14N) over the test image,
stored in EPSG:4326, and three annotators who drew the same square 1 m apart."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyproj
import shapely
from django.contrib.gis.geos import GEOSGeometry

from tests.support.workflow import CENTRE

TO_UTM = pyproj.Transformer.from_crs(4326, 32614, always_xy=True)
TO_LONLAT = pyproj.Transformer.from_crs(32614, 4326, always_xy=True)
# The test image's centre in EPSG:32614 (metres): boxes are given relative to it.
X0, Y0 = TO_UTM.transform(*CENTRE)


def box_m(west: float, south: float, east: float, north: float) -> dict:
    """A GeoJSON Polygon (EPSG:4326) of a box given in metres from the image centre (EPSG:32614)."""
    ring = [(west, south), (east, south), (east, north), (west, north), (west, south)]
    return {"type": "Polygon", "coordinates": [[list(TO_LONLAT.transform(X0 + x, Y0 + y)) for x, y in ring]]}


def in_metres(annotation) -> shapely.Geometry:
    """An annotation's geometry in EPSG:32614 (metres)."""
    shape = shapely.from_wkb(bytes(annotation.geometry.wkb))
    return shapely.transform(shape, lambda xy: shapely.get_coordinates(shapely.points(*TO_UTM.transform(*xy.T))))


@dataclass
class ThreeAnnotators:
    people: list
    area: object  # the last of three overlapping areas over the same ground, one per person
    drawn: list  # the three squares (x 1..21, -1..19, 0..20 m), then one only the first drew
    house: object
    shed: object


def three_annotators(cast, make_user, image) -> ThreeAnnotators:
    """The cast's annotator and reviewer and a third annotator, carol, each drew the same 20 m
    square shifted 1 m east, 1 m west and not at all (labels house, house, shed), each in an
    area of their own over the same ground; the first drew one more box nobody else did."""
    from annotator.choices import Role
    from annotator.models import AssignedArea, LabelClass, Membership
    from annotator.workflow import annotations

    house = LabelClass.objects.create(project=cast.project, name="house")
    shed = LabelClass.objects.create(project=cast.project, name="shed")
    carol = make_user("carol")
    Membership.objects.create(project=cast.project, user=carol, role=Role.ANNOTATOR)
    people = [cast.annotator, cast.reviewer, carol]
    area_shape = GEOSGeometry(json.dumps(box_m(-100, -100, 100, 100)), srid=4326)
    drawn, area = [], None
    for person, dx, label in zip(people, (1.0, -1.0, 0.0), (house, house, shed), strict=True):
        drawn.append(annotations.create_annotation(image, person, box_m(dx, 0, dx + 20, 20), label_class_id=label.pk))
        area = AssignedArea.objects.create(
            project=cast.project,
            image=image,
            name=f"Block A for {person.username}",
            geometry=area_shape,
            assignee=person,
            created_by=cast.owner,
        )
    drawn.append(annotations.create_annotation(image, cast.annotator, box_m(60, 60, 70, 70)))
    return ThreeAnnotators(people, area, drawn, house, shed)
