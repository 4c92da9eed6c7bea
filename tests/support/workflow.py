"""Helpers of the annotation-workflow tests: a footprint over the NAIP prairie scene, squares, images.

Images here are rows with a real footprint (EPSG:4326) over the NAIP prairie scene's
area; tests that need a real raster use ``ingested_image`` from conftest instead.
"""

from __future__ import annotations

import random

from django.contrib.gis.geos import Polygon

from tests.support.rasters import DATA

# The footprint of the test image: about 1.5 km x 2.2 km of North Dakota prairie (EPSG:4326).
FOOTPRINT = (-98.70, 47.00, -98.68, 47.02)


def square(cx: float, cy: float, half: float = 0.0005) -> dict:
    """A GeoJSON Polygon (EPSG:4326): a square of side ``2 * half`` degrees centred on (cx, cy)."""
    ring = [[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


CENTRE = ((FOOTPRINT[0] + FOOTPRINT[2]) / 2, (FOOTPRINT[1] + FOOTPRINT[3]) / 2)


def make_image(project, name: str = "prairie.tif", bbox: tuple[float, float, float, float] = FOOTPRINT):
    from annotator.choices import ImageStatus
    from annotator.models import Image

    footprint = Polygon.from_bbox(bbox)
    footprint.srid = 4326
    return Image.objects.create(
        project=project, name=name, status=ImageStatus.READY, footprint=footprint, width=1000, height=1000
    )


# A real raster (not a vector) for refusal tests.
DATA_RASTER = DATA / "landsat_rgb_utm18.tif"


def bulk_annotations(cast, image, label_class, n: int, seed: int = 5) -> None:
    """``n`` small square annotations (EPSG:4326) in every state, spread over the image, with versions."""
    from django.contrib.gis.geos import MultiPolygon, Polygon

    from annotator.models import Annotation, AnnotationVersion

    rng = random.Random(seed)
    people = [cast.owner, cast.reviewer, cast.annotator]
    states = ["draft", "submitted", "approved", "rejected"]
    rows = []
    for i in range(n):
        x = CENTRE[0] + rng.uniform(-0.009, 0.009)
        y = CENTRE[1] + rng.uniform(-0.009, 0.009)
        polygon = Polygon.from_bbox((x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4))
        rows.append(
            Annotation(
                project=cast.project,
                image=image,
                label_class=label_class if i % 2 else None,
                author=people[i % 3],
                geometry=MultiPolygon(polygon, srid=4326),
                area_m2=170.0,
                state=states[i % 4],
                attributes={"roof": "flat"} if i % 2 else {},
            )
        )
    created = Annotation.objects.bulk_create(rows, batch_size=2000)
    AnnotationVersion.objects.bulk_create(
        [
            AnnotationVersion(
                annotation=a, version=1, action="created", user=a.author, geometry=a.geometry, state=a.state
            )
            for a in created
        ],
        batch_size=2000,
    )


def drafted(cast, image, run: int, risks: list[float | None], label_class=None, author=None) -> list:
    """Drafts of a drafting run as the run writes them (source ``auto``, ``provenance.run``),
    one per entry of ``risks``, each a small square (EPSG:4326) whose SAM2 figures give that
    risk: predicted IoU ``1 - risk / 2`` alone, so the risk is ``risk`` exactly; None: a draft
    without figures. Written as rows, without a score: the queue scores them (as a run's).
    The squares lie on a grid of 10 columns over the middle of the image's footprint."""
    from django.contrib.gis.geos import MultiPolygon, Polygon

    from annotator.models import Annotation, AnnotationVersion

    west, south, east, north = image.footprint.extent
    step = min(east - west, north - south) / 20
    rows = []
    for i, value in enumerate(risks):
        x = (west + east) / 2 + step * (i % 10 - 5)
        y = (south + north) / 2 + step * (0.6 * (i // 10) - 5)
        provenance = {"run": run, "model": "sam2.1_hiera_tiny", "untrained": True}
        if value is not None:
            provenance["predicted_iou"] = 1.0 - value / 2.0
        rows.append(
            Annotation(
                project=cast.project,
                image=image,
                label_class=label_class,
                author=author or cast.reviewer,
                geometry=MultiPolygon(Polygon.from_bbox((x, y, x + step / 2, y + step / 2)), srid=4326),
                area_m2=1400.0,
                source="auto",
                provenance=provenance,
            )
        )
    created = Annotation.objects.bulk_create(rows)
    AnnotationVersion.objects.bulk_create(
        [AnnotationVersion(annotation=a, version=1, action="created", user=a.author, geometry=a.geometry, state="draft")
         for a in created]
    )  # fmt: skip
    return created
