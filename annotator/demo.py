"""The demo project's annotations: approved reference ponds, three annotators on shared ground, an evaluation.

``manage.py load_demo`` calls these after the demo image is ingested; the browser test of
the demo dashboard calls the same functions on its own project.

* **Reference** — ``fixtures/demo/ponds_2020.geojson`` (EPSG:4326): the open water of the
  2020 NAIP scene traced from its own green and NIR bands (NDWI; how and why in
  ``fixtures/demo/README.md``). Each pond becomes an annotation of the class ``pond`` by
  the demo annotator, submitted and approved by the demo reviewer: the project's approved
  polygons, which a model evaluation replays.
* **Shared ground** — "Block A", a rectangle of the scene given to three annotators (three
  overlapping assigned areas); the other two annotators draw its reference ponds again,
  each with their own small, seeded differences (a shift of 1 to 2 m, an outline grown or
  shrunk by 1 to 1.5 m, vertices moved by about a metre); one misses the smallest pond,
  the other labels one as a field. These are simulated annotators, not people: they exist
  so that agreement has something to measure, and the figures reflect exactly these
  differences.
* **Evaluation** — a model evaluation job on a seeded sample of the approved ponds.

Every step is skipped when what it makes is already there, so running it again adds nothing.
Geometry is perturbed in the image's own CRS (EPSG:26914 for the demo scene, metres).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import shapely
from affine import Affine
from django.conf import settings
from django.db import transaction

from annotator.models import Annotation, AssignedArea, Image, LabelClass, ModelEvaluation, Project
from annotator.workflow import annotations, review
from annotator.workflow.comments import save_area

REFERENCE = Path(settings.BASE_DIR) / "fixtures" / "demo" / "ponds_2020.geojson"
# Block A in the demo scene's pixels (west col, north row, east col, south row): the east
# half's middle, with eight reference ponds wholly inside.
BLOCK_A_PX = (490.0, 175.0, 925.0, 515.0)
BLOCK_A = "Block A"
# The evaluation the demo queues: a sample bounded so that it ends in about a minute on 2
# cores with the untrained tiny model (each object takes at most MAX_CLICKS decodes).
EVALUATION_SAMPLE = 20
EVALUATION_MAX_CLICKS = 20
EVALUATION_SEED = 0


@dataclass(frozen=True)
class Redraw:
    """How one simulated annotator redraws a reference pond (metres, in the image's CRS)."""

    dx: float
    dy: float
    grow: float  # buffer distance: positive grows the outline
    jitter: float  # standard deviation of each vertex's move
    seed: int
    skip: tuple[int, ...] = ()  # reference ids this annotator misses
    as_field: tuple[int, ...] = ()  # reference ids this annotator labels "field"


# The second and third annotators of Block A (the first drew the reference itself).
REDRAWS = (
    Redraw(dx=2.0, dy=-1.0, grow=1.5, jitter=0.8, seed=1, skip=(19,)),
    Redraw(dx=-1.5, dy=2.0, grow=-1.0, jitter=1.0, seed=2, as_field=(18,)),
)


def reference_features() -> list[dict]:
    """The reference ponds (GeoJSON features, EPSG:4326; ``id``, ``pixels``, ``area_m2``, ``centre_px``)."""
    return json.loads(REFERENCE.read_text())["features"]


def _pixel_to_crs(image: Image) -> Affine:
    return Affine.from_gdal(*image.geotransform)


def block_a_geojson(image: Image) -> dict:
    """Block A as a GeoJSON Polygon in EPSG:4326 (from its pixel box on ``image``)."""
    west, north, east, south = BLOCK_A_PX
    to_crs = _pixel_to_crs(image)
    to_4326 = pyproj.Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True)
    ring = [(west, north), (east, north), (east, south), (west, south), (west, north)]
    return {"type": "Polygon", "coordinates": [[list(to_4326.transform(*(to_crs @ p))) for p in ring]]}


def _in_block(feature: dict) -> bool:
    col, row = feature["properties"]["centre_px"]
    west, north, east, south = BLOCK_A_PX
    return west <= col <= east and north <= row <= south


def redrawn(feature: dict, redraw: Redraw, image: Image) -> dict:
    """``feature``'s outline as ``redraw``'s annotator draws it: a GeoJSON Polygon in EPSG:4326."""
    to_crs = pyproj.Transformer.from_crs("EPSG:4326", image.crs_wkt, always_xy=True)
    to_4326 = pyproj.Transformer.from_crs(image.crs_wkt, "EPSG:4326", always_xy=True)
    outline = shapely.geometry.shape(feature["geometry"])
    metric = shapely.transform(outline, lambda xy: np.column_stack(to_crs.transform(xy[:, 0], xy[:, 1])))
    metric = shapely.affinity.translate(metric, redraw.dx, redraw.dy).buffer(redraw.grow, join_style="mitre")
    metric = metric.simplify(1.0, preserve_topology=True)
    rng = np.random.default_rng(redraw.seed * 100_003 + feature["properties"]["id"])
    ring = shapely.get_coordinates(metric.exterior)[:-1]
    ring = ring + rng.normal(0.0, redraw.jitter, ring.shape)
    moved = shapely.make_valid(shapely.Polygon(ring))
    if moved.geom_type != "Polygon":
        moved = max(shapely.get_parts(moved), key=lambda p: p.area)
    back = shapely.transform(moved, lambda xy: np.column_stack(to_4326.transform(xy[:, 0], xy[:, 1])))
    return shapely.geometry.mapping(back)


@dataclass
class DemoAnnotations:
    """What :func:`add_demo_annotations` made (zero when it was there already)."""

    approved: int = 0
    redrawn: int = 0
    areas: int = 0


def add_demo_annotations(project: Project, image: Image, annotator, reviewer, others: list) -> DemoAnnotations:
    """The reference ponds (by ``annotator``, approved by ``reviewer``) and Block A's redraws by ``others``.

    ``image`` must be ingested (its footprint and geotransform set); all users must be
    members who may annotate. A user who already has live annotations on the image is
    taken to have drawn theirs; an area that exists (same image, name and assignee) stays.
    """
    made = DemoAnnotations()
    pond = LabelClass.objects.get(project=project, name="pond")
    field = LabelClass.objects.get(project=project, name="field")
    features = reference_features()
    with transaction.atomic():
        if not Annotation.objects.live().filter(image=image, author=annotator).exists():
            for feature in features:
                drawn = annotations.create_annotation(image, annotator, feature["geometry"], label_class_id=pond.pk)
                review.transition(drawn.pk, "submit", annotator)
                review.transition(drawn.pk, "approve", reviewer)
                made.approved += 1
        block = block_a_geojson(image)
        for person in [annotator, *others]:
            if not AssignedArea.objects.filter(project=project, image=image, name=BLOCK_A, assignee=person).exists():
                save_area(
                    project, image_id=image.pk, geometry=block, assignee=person.username, name=BLOCK_A, user=reviewer
                )
                made.areas += 1
        for person, redraw in zip(others, REDRAWS, strict=True):
            if Annotation.objects.live().filter(image=image, author=person).exists():
                continue
            for feature in features:
                number = feature["properties"]["id"]
                if not _in_block(feature) or number in redraw.skip:
                    continue
                label = field if number in redraw.as_field else pond
                drawn = annotations.create_annotation(
                    image, person, redrawn(feature, redraw, image), label_class_id=label.pk
                )
                review.transition(drawn.pk, "submit", person)
                made.redrawn += 1
    return made


def queue_demo_evaluation(
    project: Project,
    owner,
    *,
    sample: int = EVALUATION_SAMPLE,
    max_clicks: int = EVALUATION_MAX_CLICKS,
) -> ModelEvaluation | None:
    """Queue a model evaluation of the project's model on a seeded sample of its approved polygons.

    None (nothing queued) when one is queued or running, or one finished having evaluated
    at least one object. The job runs on the ``encode`` queue after the image's encode job,
    which was queued before it on the same queue.

    Raises:
        CheckpointMissing: the model has no checkpoint and untrained weights are not allowed.
    """
    from annotator.choices import JobStatus
    from annotator.quality import evaluation

    for earlier in ModelEvaluation.objects.filter(project=project).select_related("job"):
        if earlier.job is not None and earlier.job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            return None
        if earlier.summary.get("objects"):
            return None
    params = evaluation.EvaluationParams(project.sam2_model, sample=sample, seed=EVALUATION_SEED, max_clicks=max_clicks)
    return evaluation.create_evaluation(project, owner, params)
