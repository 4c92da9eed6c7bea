"""Segment-everything and find-similar runs: the service (web) and the job runner (encode worker).

A reviewer or an owner starts a run (:func:`start_run`): a ``DraftRun`` row and a
``drafts`` Job. The runner (:func:`execute`) loads SAM2's prompt encoder and mask decoder
only (``registry.load_decoder``; the image encoder is never loaded or called, and the run
records the image-encoder calls of its process while it ran: 0) and walks the image's
stored windows, finest level first, restricted to the run's area:

1. point prompts: SAM2's grid (:mod:`grid`) or, for find similar, the peaks of the
   similarity to the examples' prototype (:mod:`similar`), on valid pixels (the COG's
   mask) inside the area;
2. decode and filter as SAM2's generator (:mod:`filters`);
3. outline each kept mask on its logits (the click path's :mod:`annotator.segment.outline`)
   into level-0 image pixels and merge it with what earlier windows kept (:mod:`merge`);
   masks matching an annotation the image already has (mask IoU >= ``box_nms_thresh``)
   are skipped;
4. in one transaction per window: new drafts (state ``draft``, source ``auto``, in the
   creator's name, with provenance), drafts of earlier windows that lost deleted, the
   window's key added to ``DraftRun.windows_done``, the counts; then progress.

Resumable: a retried or re-queued run skips the windows in ``windows_done`` and reloads
the run's drafts as the merge's state. Cancellable between windows (the drafts of the
finished windows stay; a retry goes on from there). Capped at ``max_drafts``. The first
window of a run deletes the untouched drafts (never edited, submitted or reviewed: version
1, state draft) of earlier runs of the same kind on the same image and area (and class).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction
from django.utils import timezone

from annotator import access, jobs
from annotator.choices import DraftRunKind, ImageStatus, JobKind
from annotator.drafts.params import DraftParams, parse_params
from annotator.errors import Conflict, InvalidInput, NotFound
from annotator.geometry import polygon_iou
from annotator.models import (
    Annotation,
    AnnotationSource,
    AnnotationState,
    AnnotationVersion,
    AssignedArea,
    DraftRun,
    FeatureTile,
    Image,
    Job,
    LabelClass,
    VersionAction,
)
from annotator.sam2.windows import window_key
from annotator.workflow.annotations import clean_geometry, geodesic_area_m2, parse_geojson, version_row

# Find similar: peak neighbourhood and suppression radius, embedding cells (16 window px each).
PEAK_RADIUS_CELLS = 2
# Outline of a draft: simplification (window pixels) and the smallest part or hole kept.
SIMPLIFY_PX = 0.5
MIN_PART_PX = 16.0


# ---------------------------------------------------------------------------------------
# Starting a run (web process)


def start_run(
    image: Image,
    user,
    kind: str,
    *,
    area=None,
    assignment: int | None = None,
    label_class: int | None = None,
    params=None,
) -> DraftRun:
    """A reviewer or an owner starts a run on an encoded image; its Job is sent after commit.

    Args:
        area: a GeoJSON Polygon (or MultiPolygon) in EPSG:4326, clipped to the footprint; else
            the assignment's polygon; else the whole image.
        assignment: an assigned area of this image.
        label_class: the drafts' class (required for find similar).
        params: the parameters object (:mod:`annotator.drafts.params`).
    Raises:
        PermissionDenied (403), InvalidInput (400, naming the field), Conflict (409: not encoded).
    """
    from annotator.sam2.registry import model_identity

    project = image.project
    access.check(access.draft_run_refusal(access.role_of(user, project)))
    if kind not in DraftRunKind.values:
        raise InvalidInput("kind must be 'everything' or 'similar'.", field="kind")
    parsed = parse_params(kind, params)
    klass = None
    if label_class is not None:
        klass = LabelClass.objects.filter(project=project, pk=label_class, archived=False).first()
        if klass is None:
            raise InvalidInput("label_class is not a class of this project.", field="label_class")
    elif kind == DraftRunKind.SIMILAR:
        raise InvalidInput("Find similar needs a label_class.", field="label_class")
    assigned = None
    if assignment is not None:
        assigned = AssignedArea.objects.filter(image=image, pk=assignment).first()
        if assigned is None:
            raise InvalidInput("assignment is not an assigned area of this image.", field="assignment")
    geometry = None
    if area is not None:
        geometry = clean_geometry(parse_geojson(area, field="area"), image)
    elif assigned is not None:
        geometry = clean_geometry(assigned.geometry, image)
    if image.status != ImageStatus.ENCODED:
        raise Conflict(f"The image is {image.status}; drafts need its SAM2 features encoded first.")
    if kind == DraftRunKind.SIMILAR:
        parsed = _with_examples(image, klass, parsed)
    model_name = project.sam2_model
    digest, untrained = model_identity(model_name)
    with transaction.atomic():
        run = DraftRun.objects.create(
            project=project,
            image=image,
            kind=kind,
            area=geometry,
            assignment=assigned,
            label_class=klass,
            params=parsed.as_json(),
            model_name=model_name,
            checkpoint_digest=digest,
            untrained=untrained,
            created_by=user,
        )
        run.job = jobs.enqueue(JobKind.DRAFTS, project, run, user)
        run.save(update_fields=["job"])
    return run


def _with_examples(image: Image, klass: LabelClass, params: DraftParams) -> DraftParams:
    """The params with their example annotations checked (default: the class's approved ones on the image)."""
    live = Annotation.objects.live().filter(image=image)
    if params.example_annotations:
        found = set(live.filter(pk__in=params.example_annotations).values_list("pk", flat=True))
        missing = sorted(set(params.example_annotations) - found)
        if missing:
            raise InvalidInput(f"Annotation {missing[0]} is not an annotation of this image.", field="params")
        ids = params.example_annotations
    else:
        ids = list(
            live.filter(label_class=klass, state=AnnotationState.APPROVED).order_by("pk").values_list("pk", flat=True)
        )
        if not ids:
            raise InvalidInput(
                f"No approved {klass.name!r} annotation on this image to take as an example; approve one or "
                "name example_annotations.",
                field="params",
            )
    return DraftParams(**{**params.as_json(), "example_annotations": ids[:100]})


# ---------------------------------------------------------------------------------------
# Running it (encode worker)


class Cancelled(Exception):
    """The job was cancelled, or another run of it holds it now."""


@dataclass
class WindowGeometry:
    """A stored window: its tile, window↔image pixel affines, cut edges, its level-0 region."""

    ref: object  # annotator.segment.service.WindowRef
    to_image: Affine  # window pixel → level-0 image pixel

    @property
    def tile(self) -> FeatureTile:
        return self.ref.tile

    @property
    def region(self) -> tuple[int, int, int, int]:
        """(col, row, width, height) in level-0 image pixels."""
        t = self.tile
        factor = 2**t.level
        image = self.ref.tile.image
        col, row = t.col_off * factor, t.row_off * factor
        return col, row, min(t.width * factor, image.width - col), min(t.height * factor, image.height - row)


def _image_px_transformers(image: Image):
    """(EPSG:4326 → image pixel, image pixel → EPSG:4326) shapely.transform functions."""
    from pyproj import CRS, Transformer

    to_crs = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(image.crs_wkt), always_xy=True)
    pixel = ~Affine.from_gdal(*image.geotransform)

    def forward(xy: np.ndarray) -> np.ndarray:
        x, y = to_crs.transform(xy[:, 0], xy[:, 1])
        a, b, c, d, e, f = pixel[:6]
        return np.column_stack([a * x + b * y + c, d * x + e * y + f])

    return forward


def _affine_fn(transform: Affine):
    """A ``shapely.transform`` function applying ``transform`` to (x, y) rows."""
    a, b, c, d, e, f = transform[:6]

    def apply(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([a * xy[:, 0] + b * xy[:, 1] + c, d * xy[:, 0] + e * xy[:, 1] + f])

    return apply


def _to_image_px(geometry: GEOSGeometry, forward) -> shapely.Geometry:
    return shapely.transform(shapely.from_wkb(bytes(geometry.wkb)), forward)


def execute(run: DraftRun, job: Job | None = None, max_windows: int | None = None) -> DraftRun:
    """Run (or resume) ``run``: drafts window by window (module doc). Raises Cancelled when the job stops.

    Args:
        max_windows: process at most this many windows in this call (the benchmark's subset).
    """
    from annotator.sam2 import encoder, encoding, registry
    from annotator.segment import service

    started = time.perf_counter()
    calls_before = encoder.encoder_call_count()
    image = run.image
    params = DraftParams.from_json(run.params)
    loaded = registry.load_decoder(run.model_name)
    key = encoding.cache_key(image, run.model_name, run.checkpoint_digest)
    tiles = list(FeatureTile.objects.filter(image=image, cache_key=key).order_by("level", "row_off", "col_off"))
    if not tiles:
        raise NotFound("The image's SAM2 features of this model are missing; encode it again.")
    forward = _image_px_transformers(image)
    area_px = _to_image_px(run.area, forward) if run.area is not None else None
    windows = []
    for tile in tiles:
        tile.image = image
        ref = service.window_ref(image, tile)
        windows.append(WindowGeometry(ref, ~ref.to_window))
    if area_px is not None:
        windows = [w for w in windows if shapely.intersects(area_px, shapely.box(*_region_bounds(w.region)))]
    done = set(run.windows_done)
    counts = {"windows": len(windows), "points": 0, "masks": 0, "drafts": 0, "capped": False, **run.counts}
    if not done and "replaced" not in run.counts:
        counts["replaced"] = replace_earlier_runs(run)
        DraftRun.objects.filter(pk=run.pk).update(counts=counts)
    kept = _kept_of_run(run, forward)
    existing = _existing_annotations(run, forward)
    proto = _prototype(run, params, windows, loaded, forward) if run.kind == DraftRunKind.SIMILAR else None
    processed = 0
    with _open_cog(image) as src:
        for window in windows:
            if _key(window) in done:
                continue
            if counts.get("capped") or (max_windows is not None and processed >= max_windows):
                break
            result = _run_window(run, params, window, loaded, src, area_px, proto, kept, existing)
            kept = _save_window(run, params, window, result, kept, counts, forward)
            processed += 1
            done.add(_key(window))
            if job is not None and not job.set_progress(
                len(done) / max(len(windows), 1), f"{len(done)} of {len(windows)} windows, {counts['drafts']} drafts"
            ):
                raise Cancelled(f"job {job.pk} no longer runs here")
    counts["encoder_calls"] = encoder.encoder_call_count() - calls_before
    counts["decoder_only"] = not hasattr(loaded.model, "image_encoder")
    counts["seconds"] = round(counts.get("seconds", 0.0) + time.perf_counter() - started, 3)
    run.counts = counts
    if len(done) >= len(windows) or counts.get("capped"):
        run.finished_at = timezone.now()
    run.save(update_fields=["counts", "finished_at"])
    return run


def _region_bounds(region: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    col, row, width, height = region
    return col, row, col + width, row + height


def _key(window: WindowGeometry) -> str:
    t = window.tile
    return window_key(t.level, t.row_off, t.col_off)


class _open_cog:
    """The image's COG, open with rasterio (a local copy when storage is remote)."""

    def __init__(self, image: Image):
        self.image = image

    def __enter__(self):
        import contextlib

        import rasterio

        from annotator.storage import get_storage

        self._stack = contextlib.ExitStack()
        path = self._stack.enter_context(get_storage().local_copy(self.image.cog_key, ".tif"))
        return self._stack.enter_context(rasterio.open(path))

    def __exit__(self, *exc):
        self._stack.close()
        return False


def _valid_pixels(src, window: WindowGeometry) -> np.ndarray:
    """bool [height, width] window pixels: True where the COG has data (its mask, nearest)."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window as RioWindow

    col, row, width, height = window.region
    t = window.tile
    return (
        src.dataset_mask(
            window=RioWindow(col, row, width, height), out_shape=(t.height, t.width), resampling=Resampling.nearest
        )
        > 0
    )


@dataclass
class WindowResult:
    candidates: list
    points: int
    masks: int


def _run_window(run, params: DraftParams, window: WindowGeometry, loaded, src, area_px, proto, kept, existing):
    """One window: prompts, decode and filter, outlines as candidates in image pixels."""
    from annotator.drafts import filters, grid, merge, similar
    from annotator.sam2 import features
    from annotator.segment import outline

    tile = window.tile
    # Read once per run, so not through the click path's LRU: a run holds one window at a time.
    feats = features.to_decoder_inputs(features.load_window_tensors(tile.storage_key), loaded.device)
    valid = _valid_pixels(src, window)
    if run.kind == DraftRunKind.SIMILAR:
        xs, ys = similar.cell_centres()
        allowed = (xs < tile.width) & (ys < tile.height)
        inside = np.zeros_like(allowed)
        inside[allowed] = valid[ys[allowed].astype(int), xs[allowed].astype(int)]
        allowed &= inside
        if area_px is not None:
            a, b, c, d, e, f = window.to_image[:6]
            allowed &= shapely.contains_xy(area_px, a * xs + b * ys + c, d * xs + e * ys + f)
        embed = feats.image_embed[0].float().cpu().numpy()
        found = similar.peaks(similar.similarity(embed, proto), params.similarity_threshold, PEAK_RADIUS_CELLS, allowed)
        points = similar.peak_points(found)
    else:
        points = grid.restrict(
            grid.point_grid(params.points_per_side, tile.width, tile.height), valid, area_px, window.to_image
        )
    masks = filters.filter_window(loaded, feats, points, tile.width, tile.height, params.filters)
    cut = filters.near_cut_edges(masks.boxes, tile.width, tile.height, window.ref.cut_edges)
    candidates = []
    a, b, c, d, e, f = window.to_image[:6]
    for k in range(len(masks)):
        logits = masks.low_res[k].astype(np.float32) - params.mask_threshold
        shape = outline.logits_outline(
            logits,
            tile.width,
            tile.height,
            masks.points[k][None],
            None,
            SIMPLIFY_PX,
            max(float(params.min_mask_region_area), MIN_PART_PX),
        )
        if shape.geometry.is_empty:
            continue
        polygon = shapely.transform(shape.geometry, _affine_fn(window.to_image))
        px, py = masks.points[k]
        candidates.append(
            merge.Candidate(
                polygon=polygon,
                predicted_iou=float(masks.predicted_iou[k]),
                stability=float(masks.stability[k]),
                level=tile.level,
                window=(tile.col_off, tile.row_off, tile.width, tile.height),
                touches_window_edge=bool(cut[k]),
                point=(a * px + b * py + c, d * px + e * py + f),
                disagreement=float(masks.disagreement[k]),
                extra={"area_window_px": int(masks.area_px[k])},
            )
        )
    if existing is not None and candidates:
        tree, shapes = existing
        candidates = [
            cand
            for cand in candidates
            if not any(polygon_iou(shapes[i], cand.polygon) >= params.box_nms_thresh for i in tree.query(cand.polygon))
        ]
    return WindowResult(candidates, masks.decoded_points, len(masks))


def _provenance(run: DraftRun, cand) -> dict:
    return {
        "run": run.pk,
        "kind": run.kind,
        "model": run.model_name,
        "checkpoint_digest": run.checkpoint_digest,
        "untrained": run.untrained,
        "level": cand.level,
        "window": list(cand.window),
        "predicted_iou": round(cand.predicted_iou, 5),
        "stability": round(cand.stability, 5),
        # As the click path's: 1 - mean IoU with the point's other candidate masks (null: one candidate).
        "candidate_disagreement": None if math.isnan(cand.disagreement) else round(cand.disagreement, 5),
        "touches_window_edge": cand.touches_window_edge,
        "area_px": round(cand.area, 2),
        "point_px": [round(cand.point[0], 2), round(cand.point[1], 2)],
        "pieces": cand.pieces,
        "params": run.params,
    }


def _geometry_4326(run: DraftRun, polygon: shapely.Geometry):
    """A candidate's polygon (level-0 image pixels) as a clean MultiPolygon (EPSG:4326) of the image, or None."""
    from annotator.geometry import split_antimeridian
    from annotator.segment import outline, service

    image = run.image
    frame = service.antimeridian_frame(image)
    lonlat = service.window_to_4326(
        outline.as_multipolygon(polygon), Affine.from_gdal(*image.geotransform), image.crs_wkt, frame
    )
    if frame is not None:
        lonlat = split_antimeridian(lonlat)
    try:
        return clean_geometry(GEOSGeometry(memoryview(shapely.to_wkb(lonlat)), srid=4326), image, repair=True)
    except InvalidInput:
        return None


def _save_window(run: DraftRun, params: DraftParams, window, result: WindowResult, kept, counts, forward):
    """Merge the window's candidates and write the changes, the window marker and the counts in one transaction."""
    from annotator.drafts import merge

    merged = merge.merge_into(kept, result.candidates, params.box_nms_thresh)
    # ``kept`` no longer holds the drafts this window removes: what is saved of it stays.
    room = params.max_drafts - sum(1 for k in merged.kept if k.draft_id is not None)
    added = sorted(merged.added, key=lambda c: (c.touches_window_edge, c.rank()))
    if len(added) > room:
        dropped = {id(c) for c in added[room:]}
        added = added[: max(room, 0)]
        merged.kept = [k for k in merged.kept if id(k) not in dropped]
        counts["capped"] = True
    user = run.created_by
    with transaction.atomic():
        if merged.removed:
            Annotation.objects.filter(
                pk__in=[c.draft_id for c in merged.removed], state=AnnotationState.DRAFT, version=1
            ).delete()
        for cand in merged.changed:
            geometry = _geometry_4326(run, cand.polygon)
            if geometry is not None:
                Annotation.objects.filter(pk=cand.draft_id, state=AnnotationState.DRAFT, version=1).update(
                    geometry=geometry, area_m2=geodesic_area_m2(geometry), provenance=_provenance(run, cand)
                )
        rows = []
        for cand in added:
            geometry = _geometry_4326(run, cand.polygon)
            if geometry is None:
                merged.kept.remove(cand)
                continue
            rows.append(
                (
                    cand,
                    Annotation(
                        project_id=run.project_id,
                        image_id=run.image_id,
                        label_class_id=run.label_class_id,
                        author=user,
                        geometry=geometry,
                        area_m2=geodesic_area_m2(geometry),
                        source=AnnotationSource.AUTO,
                        state=AnnotationState.DRAFT,
                        provenance=_provenance(run, cand),
                    ),
                )
            )
        created = Annotation.objects.bulk_create([row for _c, row in rows])
        AnnotationVersion.objects.bulk_create([version_row(a, VersionAction.CREATED, user) for a in created])
        for (cand, _row), annotation in zip(rows, created, strict=True):
            cand.draft_id = annotation.pk
        run.windows_done = [*run.windows_done, _key(window)]
        counts["points"] += result.points
        counts["masks"] += result.masks
        counts["windows_done"] = len(run.windows_done)
        counts["drafts"] = _drafts_of(run).count()
        run.counts = counts
        DraftRun.objects.filter(pk=run.pk).update(windows_done=run.windows_done, counts=counts)
    return merged.kept


def _drafts_of(run: DraftRun):
    """The run's live drafts."""
    return Annotation.objects.live().filter(image_id=run.image_id, source=AnnotationSource.AUTO, provenance__run=run.pk)


def _kept_of_run(run: DraftRun, forward) -> list:
    """The run's live drafts as merge candidates (resuming a run)."""
    from annotator.drafts.merge import Candidate

    kept = []
    for annotation in _drafts_of(run):
        p = annotation.provenance
        kept.append(
            Candidate(
                polygon=_to_image_px(annotation.geometry, forward),
                predicted_iou=float(p.get("predicted_iou", 0.0)),
                stability=float(p.get("stability", 0.0)),
                level=int(p.get("level", 0)),
                window=tuple(p.get("window", (0, 0, 0, 0))),
                touches_window_edge=bool(p.get("touches_window_edge", False)),
                point=tuple(p.get("point_px", (0.0, 0.0))),
                disagreement=float(p.get("candidate_disagreement") or 0.0),
                draft_id=annotation.pk,
                pieces=int(p.get("pieces", 1)),
            )
        )
    return kept


def _existing_annotations(run: DraftRun, forward):
    """The image's other live annotations in image pixels, with an STRtree, or None when there are none."""
    # Filtered here, not with exclude(): a JSON key lookup is NULL on rows without the key.
    others = Annotation.objects.live().filter(image_id=run.image_id).only("geometry", "source", "provenance")
    shapes = [
        _to_image_px(a.geometry, forward)
        for a in others
        if not (a.source == AnnotationSource.AUTO and (a.provenance or {}).get("run") == run.pk)
    ]
    if not shapes:
        return None
    return shapely.STRtree(shapes), shapes


def _prototype(run: DraftRun, params: DraftParams, windows, loaded, forward) -> np.ndarray:
    """The examples' prototype: each in the finest stored window that holds it with margin (:mod:`similar`)."""
    from annotator.drafts import similar
    from annotator.segment import service

    by_key = {_key(w): w for w in windows}
    embeds, cells = [], []
    for annotation in Annotation.objects.filter(pk__in=params.example_annotations, image_id=run.image_id):
        polygon = _to_image_px(annotation.geometry, forward)
        x0, y0, x1, y1 = polygon.bounds
        box = service.PromptSet(np.array([[x0, y0], [x1, y1]]), np.zeros((0, 2)), None)
        chosen = service.choose_windows(
            service.candidate_windows(run.image, box, _cache_key(run)),
            box,
        )
        if not chosen:
            continue
        best = next((c for c in chosen if c.margin >= service.EDGE_PX), chosen[0])
        ref = best.window
        in_window = shapely.transform(polygon, _affine_fn(ref.to_window))
        window = by_key.get(f"L{ref.tile.level}_r{ref.tile.row_off}_c{ref.tile.col_off}")
        feats, _ = service.load_window(window.ref if window is not None else ref, loaded)
        embeds.append(feats.image_embed[0].float().cpu().numpy())
        cells.append(similar.cells_inside(in_window, ref.tile.width, ref.tile.height))
    try:
        return similar.prototype(embeds, cells)
    except ValueError:
        raise InvalidInput("The example annotations lie in no stored window of the image.", field="params") from None


def _cache_key(run: DraftRun) -> str:
    from annotator.sam2.encoding import cache_key

    return cache_key(run.image, run.model_name, run.checkpoint_digest)


def untouched_drafts(runs) -> Annotation:
    """Live drafts of ``runs`` that nobody edited, submitted or reviewed (version 1: only created)."""
    return Annotation.objects.live().filter(
        source=AnnotationSource.AUTO,
        provenance__run__in=[r.pk for r in runs],
        state=AnnotationState.DRAFT,
        version=1,
        reviewed_at__isnull=True,
    )


def replace_earlier_runs(run: DraftRun) -> int:
    """Delete (tombstones, one version each) the untouched drafts of earlier runs of the same kind,
    image and area (and class, for find similar); returns how many."""
    earlier = DraftRun.objects.filter(image_id=run.image_id, kind=run.kind, created_at__lte=run.created_at).exclude(
        pk=run.pk
    )
    earlier = earlier.filter(area__isnull=True) if run.area is None else earlier.filter(area__equals=run.area)
    if run.kind == DraftRunKind.SIMILAR:
        earlier = earlier.filter(label_class_id=run.label_class_id)
    now = timezone.now()
    with transaction.atomic():
        doomed = list(untouched_drafts(list(earlier)).select_for_update())
        for annotation in doomed:
            annotation.deleted_at = now
            annotation.version += 1
        Annotation.objects.bulk_update(doomed, ["deleted_at", "version"])
        AnnotationVersion.objects.bulk_create([version_row(a, VersionAction.DELETED, run.created_by) for a in doomed])
    return len(doomed)


@jobs.register(JobKind.DRAFTS)
def run_drafts_job(job: Job) -> str:
    """Runner of ``drafts`` jobs: run (or resume) the DraftRun the row names; the message gives the counts."""
    run = DraftRun.objects.select_related("image", "project", "label_class", "created_by").get(pk=job.target_id)
    try:
        run = execute(run, job)
    except Cancelled:
        return "cancelled"
    c = run.counts
    note = " (UNTRAINED weights: the drafts are meaningless)" if run.untrained else ""
    capped = f", capped at {run.params.get('max_drafts')}" if c.get("capped") else ""
    return f"{c['drafts']} drafts from {c.get('windows_done', 0)} windows, {c['points']} points{capped}{note}"
