"""Fixtures and helpers shared by the annotation-workflow tests (import the fixtures you use).

Images here are rows with a real footprint (EPSG:4326) over the NAIP prairie scene's
area; tests that need a real raster use ``ingested_image`` from conftest instead.
"""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import Polygon

from tests.conftest import DATA

# The footprint of the test image: about 1.5 km x 2.2 km of North Dakota prairie (EPSG:4326).
FOOTPRINT = (-98.70, 47.00, -98.68, 47.02)


def square(cx: float, cy: float, half: float = 0.0005) -> dict:
    """A GeoJSON Polygon (EPSG:4326): a square of side ``2 * half`` degrees centred on (cx, cy)."""
    ring = [[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


CENTRE = ((FOOTPRINT[0] + FOOTPRINT[2]) / 2, (FOOTPRINT[1] + FOOTPRINT[3]) / 2)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The cast's users are created with a cheap hasher: these tests are about annotations."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_image(project, name: str = "prairie.tif", bbox: tuple[float, float, float, float] = FOOTPRINT):
    from annotator.choices import ImageStatus
    from annotator.models import Image

    footprint = Polygon.from_bbox(bbox)
    footprint.srid = 4326
    return Image.objects.create(
        project=project, name=name, status=ImageStatus.READY, footprint=footprint, width=1000, height=1000
    )


@pytest.fixture
def image(cast):
    """A ready image of the cast's project with a footprint (EPSG:4326)."""
    return make_image(cast.project)


@pytest.fixture
def building(cast):
    """A label class with one attribute of each type."""
    from annotator.models import LabelClass

    return LabelClass.objects.create(
        project=cast.project,
        name="building",
        attributes=[
            {"name": "storeys", "type": "number", "required": False},
            {"name": "roof", "type": "choice", "choices": ["flat", "gabled"], "required": True},
            {"name": "note", "type": "text"},
            {"name": "occupied", "type": "boolean"},
        ],
    )


@pytest.fixture
def make_annotation(image):
    """A factory: an annotation by ``user`` brought to ``state`` through the real services."""
    from annotator.workflow import annotations
    from annotator.workflow import review

    def make(user, state: str = "draft", geometry: dict | None = None, reviewer=None, on=None):
        annotation = annotations.create_annotation(on or image, user, geometry or square(*CENTRE))
        if state in ("submitted", "approved", "rejected"):
            annotation = review.transition(annotation.pk, "submit", user)
        if state == "approved":
            annotation = review.transition(annotation.pk, "approve", reviewer)
        if state == "rejected":
            annotation = review.transition(annotation.pk, "reject", reviewer, comment="Too loose around the roof.")
        return annotation

    return make


# A real raster (not a vector) for refusal tests.
DATA_RASTER = DATA / "landsat_rgb_utm18.tif"
