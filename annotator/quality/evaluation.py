"""Model evaluation: the standard interactive-segmentation protocol on a project's approved polygons.

The protocol (RITM, Sofiiuk et al. 2022; SAM 2's interactive evaluation): each approved
polygon is rasterized as ground truth; the simulated annotator clicks at the point of the
larger error region farthest from its border (Euclidean distance transform, the window's
border counting as border): positive in a false-negative region, negative in a
false-positive one, previously clicked pixels excluded; up to ``max_clicks`` clicks, each
decoded together with the previous low-resolution mask, exactly as the segment endpoint
refines a prompt session. The figures: NoC@85 and NoC@90 (mean clicks to reach that IoU,
``max_clicks`` when never reached), NoF@90 (objects never reaching 0.90) and mean IoU
after 1..5 clicks, per label class and overall.

Pixels: everything happens in the window pixels (col, row) of the one stored SAM2 window
that holds the whole object (the 1024 x 1024 grid at its level, cropped to its valid size).
A click on pixel (col, row) is sent at its centre (col + 0.5, row + 0.5), where a click on
the map at that pixel's centre lands. The prompts go through :mod:`annotator.segment.service`
(window lookup, window choice, :func:`~annotator.segment.service.decode_in_window`), the
same decoder path as a click; nothing here decodes on its own.

The web process only starts evaluations (:func:`start_evaluation`); the runner loads the
decoder on the ``encode`` worker (torch is imported inside the functions that need it).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.utils import timezone
from scipy.ndimage import distance_transform_edt

from annotator import access, jobs
from annotator.choices import JobKind
from annotator.errors import InvalidInput
from annotator.models import Annotation, AnnotationState, FeatureTile, Job, ModelEvaluation, Project

# The figures reported, as in RITM / SAM 2: IoU thresholds of NoC, clicks of the mIoU curve.
NOC_THRESHOLDS = (0.85, 0.90)
NOF_THRESHOLD = 0.90
CURVE_CLICKS = 5
DEFAULT_MAX_CLICKS = 20
MAX_SAMPLE = 10_000
# Why an approved polygon was not evaluated (keys of ``summary["skipped"]``).
SKIP_NO_FEATURES = "no_features"  # its image has no stored features of the evaluated model
SKIP_NO_WINDOW = "no_window"  # no single window holds the whole object (it leaves the image)
SKIP_EMPTY = "empty_mask"  # it covers no pixel centre at the level of its window


# ---------------------------------------------------------------------------------------
# The click simulator


@dataclass(frozen=True)
class Click:
    """A simulated click on window pixel (col, row); ``positive``: in a false-negative region."""

    col: int
    row: int
    positive: bool

    @property
    def point(self) -> tuple[float, float]:
        """The click in window pixels (x, y): the centre of its pixel."""
        return self.col + 0.5, self.row + 0.5


def _error_distances(error: np.ndarray) -> np.ndarray:
    """Euclidean distance of each pixel of ``error`` [H, W] to the nearest non-error pixel or the border.

    Computed on the error pixels' bounding box grown by one pixel (clipped to the mask) and
    padded with one ring of zeros, which is exact: a non-error pixel outside the box is never
    nearer to an error pixel than the box's own ring of non-error pixels or the mask border,
    which the padding stands for (as RITM pads the image).
    """
    distances = np.zeros(error.shape, dtype=np.float64)
    rows = np.flatnonzero(error.any(axis=1))
    if not len(rows):
        return distances
    cols = np.flatnonzero(error.any(axis=0))
    height, width = error.shape
    row0, row1 = max(rows[0] - 1, 0), min(rows[-1] + 2, height)
    col0, col1 = max(cols[0] - 1, 0), min(cols[-1] + 2, width)
    crop = np.pad(error[row0:row1, col0:col1], 1)
    distances[row0:row1, col0:col1] = distance_transform_edt(crop)[1:-1, 1:-1]
    return distances


def next_click(truth: np.ndarray, prediction: np.ndarray, clicked: np.ndarray) -> Click | None:
    """The next simulated click, or None when no error pixel is left to click.

    The false-negative (``truth & ~prediction``) and false-positive (``~truth & prediction``)
    pixels each get their distance to the nearest pixel outside their region (the mask's
    border counts as outside); pixels in ``clicked`` get 0. The click is positive when the
    largest false-negative distance is strictly larger than the largest false-positive one
    (RITM's rule: a tie gives a negative click), at that region's largest distance; among
    equally distant pixels, the first in row-major order (smallest row, then smallest col).

    Args:
        truth, prediction, clicked: bool [H, W] window pixels: the ground truth, the current
            mask, and the pixels clicked so far.
    """
    false_negative = truth & ~prediction
    false_positive = ~truth & prediction
    if not ((false_negative | false_positive) & ~clicked).any():
        return None
    fn = _error_distances(false_negative)
    fp = _error_distances(false_positive)
    fn[clicked] = 0.0
    fp[clicked] = 0.0
    fn_max, fp_max = fn.max(), fp.max()
    positive = bool(fn_max > fp_max)
    distances = fn if positive else fp
    if distances.max() <= 0:
        return None
    row, col = np.unravel_index(int(np.argmax(distances)), distances.shape)  # argmax: first in row-major order
    return Click(int(col), int(row), positive)


def iou(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Intersection over union of two bool masks; 1.0 when both are empty."""
    union = np.count_nonzero(truth | prediction)
    return 1.0 if union == 0 else np.count_nonzero(truth & prediction) / union


# ---------------------------------------------------------------------------------------
# Figures from IoU sequences


def clicks_to_reach(ious: list[float], threshold: float, max_clicks: int) -> int:
    """The number of clicks after which IoU first reaches ``threshold``; ``max_clicks`` if it never does."""
    for k, value in enumerate(ious[:max_clicks], start=1):
        if value >= threshold:
            return k
    return max_clicks


def iou_after(ious: list[float], clicks: int) -> float:
    """IoU after ``clicks`` clicks; a sequence that stopped earlier keeps its last value."""
    return ious[min(clicks, len(ious)) - 1]


def summarise(sequences: list[list[float]], max_clicks: int) -> dict:
    """NoC@85, NoC@90 (means), NoF@90 (a count) and mean IoU after 1..5 clicks of IoU sequences.

    Args:
        sequences: per object, IoU after click 1, 2, ... (at least one click each; a
            sequence may stop early, see :func:`iou_after`).
        max_clicks: the click budget (NoC of an object that never reaches the threshold).
    Returns:
        ``{"objects", "noc85", "noc90", "nof90", "miou"}``; the means are None without objects.
    """
    n = len(sequences)
    if n == 0:
        return {"objects": 0, "noc85": None, "noc90": None, "nof90": 0, "miou": [None] * CURVE_CLICKS}
    noc = {t: [clicks_to_reach(s, t, max_clicks) for s in sequences] for t in NOC_THRESHOLDS}
    failures = sum(1 for s in sequences if max(s[:max_clicks]) < NOF_THRESHOLD)
    return {
        "objects": n,
        "noc85": float(np.mean(noc[0.85])),
        "noc90": float(np.mean(noc[0.90])),
        "nof90": failures,
        "miou": [float(np.mean([iou_after(s, k) for s in sequences])) for k in range(1, CURVE_CLICKS + 1)],
    }


# ---------------------------------------------------------------------------------------
# Starting an evaluation (web process)


@dataclass(frozen=True)
class EvaluationParams:
    """What an evaluation runs: the model, the optional sample of approved polygons and its seed."""

    model_name: str
    sample: int | None = None
    seed: int = 0
    max_clicks: int = DEFAULT_MAX_CLICKS

    def as_json(self) -> dict:
        return {"sample": self.sample, "seed": self.seed, "max_clicks": self.max_clicks}


def parse_params(project: Project, model: str | None, sample, seed, max_clicks) -> EvaluationParams:
    """Check an evaluation request; InvalidInput names the bad field."""
    from annotator.sam2.registry import get_spec

    name = model or project.sam2_model
    try:
        get_spec(name)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="model") from None

    def integer(value, name: str, low: int, high: int, default: int | None) -> int | None:
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise InvalidInput(f"{name} must be a whole number.", field=name)
        try:
            number = int(value)
        except ValueError:
            raise InvalidInput(f"{name} must be a whole number.", field=name) from None
        if not low <= number <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}.", field=name)
        return number

    return EvaluationParams(
        model_name=name,
        sample=integer(sample, "sample", 1, MAX_SAMPLE, None),
        seed=integer(seed, "seed", 0, 2**31 - 1, 0),
        max_clicks=integer(max_clicks, "max_clicks", CURVE_CLICKS, 100, DEFAULT_MAX_CLICKS),
    )


def check_can_evaluate(user, project: Project) -> None:
    """Refuse members below ``access.EVALUATION_STARTER`` (owners; why: see there)."""
    access.check(access.evaluation_refusal(access.role_of(user, project)))


def start_evaluation(project: Project, user, params: EvaluationParams) -> ModelEvaluation:
    """An owner starts an evaluation: :func:`create_evaluation` after the role check.

    Raises:
        PermissionDenied: the user is not an owner of the project.
        CheckpointMissing: the model has no checkpoint and untrained weights are not allowed.
    """
    check_can_evaluate(user, project)
    return create_evaluation(project, user, params)


def create_evaluation(project: Project, user, params: EvaluationParams) -> ModelEvaluation:
    """Create the ModelEvaluation row with the model's identity and queue its Job (sent after commit).

    No role check: :func:`start_evaluation` is the members' way in, the ``evaluate_model``
    command the server administrator's.

    Raises:
        CheckpointMissing: the model has no checkpoint and untrained weights are not allowed.
    """
    from annotator.sam2.registry import model_identity

    digest, untrained = model_identity(params.model_name)
    with transaction.atomic():
        evaluation = ModelEvaluation.objects.create(
            project=project,
            created_by=user if user is not None and user.is_authenticated else None,
            model_name=params.model_name,
            checkpoint_digest=digest,
            untrained=untrained,
            params=params.as_json(),
        )
        evaluation.job = jobs.enqueue(JobKind.EVALUATE, project, evaluation, user)
        evaluation.save(update_fields=["job"])
    return evaluation


def evaluated_models(project: Project) -> list[dict]:
    """The models whose features are stored for the project's images: ``[{"model", "images"}]``."""
    from django.db.models import Count

    rows = (
        FeatureTile.objects.filter(image__project=project)
        .values("model_name")
        .annotate(images=Count("image", distinct=True))
        .order_by("model_name")
    )
    return [{"model": row["model_name"], "images": row["images"]} for row in rows]


# ---------------------------------------------------------------------------------------
# Running it (encode worker)


def approved_annotations(project: Project, sample: int | None, seed: int) -> list[Annotation]:
    """The project's approved live annotations, or a seeded random sample of them, by image then id."""
    ids = list(
        Annotation.objects.live()
        .filter(project=project, state=AnnotationState.APPROVED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if sample is not None and sample < len(ids):
        ids = random.Random(seed).sample(ids, sample)  # noqa: S311 - a reproducible sample, not a secret
    rows = Annotation.objects.filter(pk__in=ids).select_related("image", "label_class")
    return sorted(rows, key=lambda a: (a.image_id, a.pk))


@dataclass
class ObjectResult:
    annotation: int
    image: int
    label_class: int | None
    level: int
    window: list[int]  # col_off, row_off, width, height at its level
    ious: list[float] = field(default_factory=list)
    clicks: list[list[float]] = field(default_factory=list)  # [col, row, 1 positive | 0 negative] window px

    def as_json(self) -> dict:
        return {
            "annotation": self.annotation,
            "image": self.image,
            "label_class": self.label_class,
            "level": self.level,
            "window": self.window,
            "ious": [round(v, 5) for v in self.ious],
            "clicks": self.clicks,
        }


class ObjectWindow:
    """An approved polygon in the stored window that holds it: the window and the ground truth mask."""

    def __init__(self, chosen, truth: np.ndarray):
        self.chosen = chosen  # annotator.segment.service.PromptedWindow
        self.truth = truth  # bool [height, width] window pixels


def object_window(annotation: Annotation, cache_key: str) -> ObjectWindow | str:
    """The window the click path chooses for the whole object, and its rasterized ground truth.

    The object's bounding box in image pixels goes through the segment service's window
    lookup and choice (:func:`~annotator.segment.service.candidate_windows`,
    :func:`~annotator.segment.service.choose_windows`: per level the window with the most
    margin to its cut edges, finest level first); the first level where the box keeps
    ``EDGE_PX`` from every cut edge is taken, as the endpoint falls back to a coarser level
    when a mask reaches a cut edge. The polygon (EPSG:4326) is projected to the image CRS
    and rasterized on the window's pixel grid (pixel centres inside, rasterio).

    Returns:
        the :class:`ObjectWindow`, or the reason it is skipped (``SKIP_*``).
    """
    import rasterio.features
    import shapely
    from affine import Affine
    from pyproj import CRS, Transformer

    from annotator.segment import service

    image = annotation.image
    if not FeatureTile.objects.filter(image=image, cache_key=cache_key).exists():
        return SKIP_NO_FEATURES
    to_image_crs = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(image.crs_wkt), always_xy=True)
    polygon = shapely.transform(
        shapely.from_wkb(bytes(annotation.geometry.wkb)), to_image_crs.transform, interleaved=False
    )
    to_pixels = ~Affine.from_gdal(*image.geotransform)
    corners = np.array([to_pixels @ tuple(xy) for xy in shapely.get_coordinates(polygon)])
    low, high = corners.min(axis=0), corners.max(axis=0)
    box = service.PromptSet(np.array([low, high]), np.zeros((0, 2)), None)
    levels = service.choose_windows(service.candidate_windows(image, box, cache_key), box)
    chosen = next((c for c in levels if c.margin >= service.EDGE_PX), None)
    if chosen is None:
        return SKIP_NO_WINDOW
    tile = chosen.window.tile
    truth = rasterio.features.rasterize(
        [polygon], out_shape=(tile.height, tile.width), transform=chosen.window.transform, dtype=np.uint8
    ).astype(bool)
    if not truth.any():
        return SKIP_EMPTY
    return ObjectWindow(chosen, truth)


def simulate_clicks(loaded, target: ObjectWindow, max_clicks: int) -> tuple[list[float], list[Click]]:
    """Replay the protocol on one object: IoU after each click and the clicks, in window pixels.

    Each click adds a point to the prompts (positives, then negatives, as the endpoint sends
    them) and is decoded by :func:`~annotator.segment.service.decode_in_window` with the
    previous click's best low-resolution logits as mask input, stored as fp16 like a prompt
    session (:func:`annotator.segment.prompt_sessions.record`). The mask is the bilinear
    upsampling of the logits > 0 (:func:`~annotator.segment.service.upsample`), which is what
    the endpoint's outline traces. The sequence stops early once IoU reached
    ``NOF_THRESHOLD`` after at least ``CURVE_CLICKS`` clicks (every figure is known then), or
    when no error pixel is left to click.
    """
    import torch

    from annotator.segment import service

    ref = target.chosen.window
    truth = target.truth
    height, width = truth.shape
    prediction = np.zeros_like(truth)
    clicked = np.zeros_like(truth)
    to_image = ~ref.to_window
    clicks: list[Click] = []
    ious: list[float] = []
    mask_input = None
    for _ in range(max_clicks):
        click = next_click(truth, prediction, clicked)
        if click is None:
            break
        clicked[click.row, click.col] = True
        clicks.append(click)
        image_px = [to_image @ c.point for c in clicks]
        prompts = service.PromptSet(
            np.array([p for p, c in zip(image_px, clicks, strict=True) if c.positive]).reshape(-1, 2),
            np.array([p for p, c in zip(image_px, clicks, strict=True) if not c.positive]).reshape(-1, 2),
            None,
        )
        in_window = prompts.in_window(ref.to_window)
        chosen = service.PromptedWindow(ref, in_window, target.chosen.margin)
        decoded = service.decode_in_window(loaded, chosen, mask_input, return_all=False)
        best = decoded.low_res[decoded.best]
        mask_input = best.astype(np.float16).astype(np.float32)[None]
        prediction = service.upsample(torch.from_numpy(best[None]), width, height)[0]
        ious.append(iou(truth, prediction))
        if len(ious) >= CURVE_CLICKS and ious[-1] >= NOF_THRESHOLD:
            break
    return ious, clicks


class Cancelled(Exception):
    """The job's row was cancelled (or taken by another run) while evaluating."""


def run_evaluation(evaluation: ModelEvaluation, job: Job | None = None) -> ModelEvaluation:
    """Evaluate ``evaluation.model_name`` on the project's approved polygons; fill the row's figures.

    Progress goes to ``job`` after each object; a cancelled job stops the run (Cancelled)
    and leaves the row's figures empty.
    """
    from annotator.sam2.encoding import cache_key
    from annotator.sam2.registry import model_identity
    from annotator.segment import service

    started = time.perf_counter()
    project = evaluation.project
    params = evaluation.params
    max_clicks = int(params.get("max_clicks", DEFAULT_MAX_CLICKS))
    loaded = service.decoder_model(evaluation.model_name)
    digest, untrained = model_identity(evaluation.model_name)
    annotations = approved_annotations(project, params.get("sample"), int(params.get("seed", 0)))
    results: list[ObjectResult] = []
    skipped: dict[str, int] = {}
    keys: dict[int, str] = {}
    decode_s = 0.0
    for i, annotation in enumerate(annotations):
        image = annotation.image
        if image.pk not in keys:
            keys[image.pk] = cache_key(image, evaluation.model_name, digest)
        target = object_window(annotation, keys[image.pk])
        if isinstance(target, str):
            skipped[target] = skipped.get(target, 0) + 1
        else:
            t0 = time.perf_counter()
            ious, clicks = simulate_clicks(loaded, target, max_clicks)
            decode_s += time.perf_counter() - t0
            tile = target.chosen.window.tile
            results.append(
                ObjectResult(
                    annotation=annotation.pk,
                    image=image.pk,
                    label_class=annotation.label_class_id,
                    level=tile.level,
                    window=[tile.col_off, tile.row_off, tile.width, tile.height],
                    ious=ious,
                    clicks=[[c.col, c.row, int(c.positive)] for c in clicks],
                )
            )
        if job is not None and not job.set_progress(
            (i + 1) / len(annotations), f"{i + 1} of {len(annotations)} objects"
        ):
            raise Cancelled(f"job {job.pk} no longer runs here")
    runtime = time.perf_counter() - started
    evaluation.checkpoint_digest = digest
    evaluation.untrained = untrained
    evaluation.summary = {
        **summarise([r.ious for r in results], max_clicks),
        "approved": len(annotations),
        "skipped": skipped,
        "max_clicks": max_clicks,
        "runtime_s": round(runtime, 3),
        "clicks_s": round(decode_s, 3),
        "seconds_per_100_objects": round(runtime / len(results) * 100, 2) if results else None,
    }
    evaluation.per_class = per_class_figures(project, results, max_clicks)
    evaluation.object_results = [r.as_json() for r in results]
    evaluation.finished_at = timezone.now()
    evaluation.save(
        update_fields=["checkpoint_digest", "untrained", "summary", "per_class", "object_results", "finished_at"]
    )
    return evaluation


def per_class_figures(project: Project, results: list[ObjectResult], max_clicks: int) -> list[dict]:
    """:func:`summarise` per label class (in the project's class order; unlabelled last, as ``label_class`` None)."""
    from annotator.models import LabelClass

    by_class: dict[int | None, list[list[float]]] = {}
    for result in results:
        by_class.setdefault(result.label_class, []).append(result.ious)
    classes = {c.pk: c for c in LabelClass.objects.filter(pk__in=[k for k in by_class if k is not None])}
    ordered = sorted(by_class, key=lambda k: (k is None, getattr(classes.get(k), "order", 0), k or 0))
    return [
        {
            "label_class": key,
            "name": classes[key].name if key in classes else None,
            "colour": getattr(classes.get(key), "colour", None),
            **summarise(by_class[key], max_clicks),
        }
        for key in ordered
    ]


@jobs.register(JobKind.EVALUATE)
def run_evaluation_job(job: Job) -> str:
    """Runner of ``evaluate`` jobs: evaluate the model the row names; the message gives the headline figures."""
    evaluation = ModelEvaluation.objects.select_related("project").get(pk=job.target_id)
    try:
        evaluation = run_evaluation(evaluation, job)
    except Cancelled:
        return "cancelled"
    s = evaluation.summary
    if not s["objects"]:
        return f"no approved polygon could be evaluated ({s['approved']} approved)"
    note = " (UNTRAINED weights: the numbers are meaningless)" if evaluation.untrained else ""
    return f"{s['objects']} objects: NoC@90 {s['noc90']:.2f}, NoF@90 {s['nof90']}, mIoU@1 {s['miou'][0]:.3f}{note}"
