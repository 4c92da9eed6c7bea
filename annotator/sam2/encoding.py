"""SAM2 image encoding: window preprocessing and the resumable, cancellable encode job.

One code path turns any window into SAM2's input: read the three mapped bands of the COG
(level k resampled from the COG's overviews), apply the image's stored stretch (never a
per-window one), set nodata/alpha/NaN pixels to 0, make uint8 RGB [H, W, 3], pad to
1024 x 1024 with zeros, then SAM2's own transforms (``SAM2Transforms``: to [0, 1],
ImageNet mean/std). The encoder output is reshaped exactly as
``SAM2ImagePredictor.set_image`` does, so the stored features equal the predictor's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from django.conf import settings
from django.db.models import Count, Sum
from rasterio.enums import Resampling
from rasterio.windows import Window as RioWindow

from annotator import jobs
from annotator.choices import ImageStatus, JobKind, JobStatus
from annotator.errors import Conflict
from annotator.imagery.ingest import GDAL_SAFE_ENV, stretch_to_uint8
from annotator.models import FeatureTile, Image, Job
from annotator.sam2 import priority
from annotator.sam2.encode_jobs import active_encode_jobs, features_prefix
from annotator.sam2.encoder import encode_batch
from annotator.sam2.features import FEATURE_NAMES, save_window_features
from annotator.sam2.priority import window_id
from annotator.sam2.registry import CheckpointMissing, LoadedModel, load_model, model_identity
from annotator.sam2.windows import FEATURE_BYTES_PER_WINDOW, WINDOW_SIZE, Window, plan_windows
from annotator.storage import get_storage

logger = logging.getLogger(__name__)

# Bump when the preprocessing or the stored layout changes: old features become stale.
FEATURE_FORMAT_VERSION = 1


class EncodeCancelled(Exception):
    """The job row was cancelled while encoding; the windows done so far are kept."""


# ---------------------------------------------------------------------------------------
# Preprocessing


def image_affine(image: Image) -> Affine:
    """The image's pixel (col, row) → image CRS transform."""
    return Affine.from_gdal(*image.geotransform)


def image_windows(image: Image) -> list[Window]:
    """The window plan of an ingested image with the configured stride."""
    return plan_windows(image.width, image.height, image_affine(image), stride=settings.SAM2_WINDOW_STRIDE)


def read_window_rgb(src: rasterio.io.DatasetReader, image: Image, window: Window) -> np.ndarray:
    """Read one window as SAM2 input: uint8 RGB [1024, 1024, 3], zero-padded beyond its valid size.

    Args:
        src: the image's COG, open.
        image: its row (band mapping, stretch).
        window: the window; level k is read with average resampling (GDAL uses overviews).
    Returns:
        uint8 array [1024, 1024, 3]; pixels [:window.height, :window.width] hold the image.
    """
    region = RioWindow(window.src_col_off, window.src_row_off, window.src_width, window.src_height)
    shape = (window.height, window.width)
    resampling = Resampling.nearest if window.level == 0 else Resampling.average
    bands = src.read(image.band_mapping, window=region, out_shape=(3, *shape), resampling=resampling)
    valid = src.dataset_mask(window=region, out_shape=shape, resampling=Resampling.nearest) > 0
    if np.issubdtype(bands.dtype, np.floating):
        valid &= np.isfinite(bands).all(axis=0)
    rgb = stretch_to_uint8(bands, valid, image.stretch)
    if shape == (WINDOW_SIZE, WINDOW_SIZE):
        return rgb
    padded = np.zeros((WINDOW_SIZE, WINDOW_SIZE, 3), dtype=np.uint8)
    padded[: shape[0], : shape[1]] = rgb
    return padded


# ---------------------------------------------------------------------------------------
# Cache identity and invalidation


def cache_key(image: Image, model_name: str, digest: str) -> str:
    """Everything the features depend on, hashed: model, weights, bands, stretch, window plan."""
    identity = {
        "format": FEATURE_FORMAT_VERSION,
        "model": model_name,
        "checkpoint": digest,
        "band_mapping": list(image.band_mapping),
        "stretch": [[float(a), float(b)] for a, b in image.stretch],
        "window": WINDOW_SIZE,
        "stride": settings.SAM2_WINDOW_STRIDE,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def current_cache_key(image: Image) -> str:
    """The cache key the image's features must have now (checkpoint digest without loading the model)."""
    digest, _untrained = model_identity(image.project.sam2_model)
    return cache_key(image, image.project.sam2_model, digest)


def feature_key(image: Image, key: str, window: Window) -> str:
    """Storage key of one window's features."""
    return f"{features_prefix(image)}/{key}/{window.key}.safetensors"


def delete_stale_features(image: Image, keep: str | None) -> int:
    """Delete FeatureTile rows and files of ``image`` whose cache key is not ``keep``; returns rows deleted."""
    stale = FeatureTile.objects.filter(image=image)
    if keep is not None:
        stale = stale.exclude(cache_key=keep)
    deleted, _ = stale.delete()
    storage = get_storage()
    prefix = features_prefix(image)
    stale_dirs = {k.removeprefix(prefix + "/").split("/", 1)[0] for k in storage.list_keys(prefix)}
    for name in stale_dirs - {keep}:
        storage.delete_prefix(f"{prefix}/{name}")
    return deleted


# ---------------------------------------------------------------------------------------
# The encode job


@dataclass
class EncodeResult:
    windows: int
    encoded: int
    skipped: int
    levels: int
    stored_bytes: int
    untrained: bool
    cache_key: str
    seconds: float

    @property
    def message(self) -> str:
        text = (
            f"{self.windows} windows at {self.levels} level(s) "
            f"({self.encoded} encoded, {self.skipped} already stored), {self.stored_bytes / 2**20:.0f} MiB of features"
        )
        return text + (" - UNTRAINED weights, masks are meaningless" if self.untrained else "")


def _check_cancelled(job: Job | None) -> None:
    """Raise EncodeCancelled once the row is cancelled, ClaimLost once another run holds it (one query)."""
    if job is None:
        return
    row = Job.objects.filter(pk=job.pk).values_list("status", "attempt_token").first()
    if row is None:
        return
    status, token = row
    if status == JobStatus.CANCELLED:
        raise EncodeCancelled()
    if job.attempt_token and token != job.attempt_token:
        # Re-queued (this run's heartbeat went stale) or retried: the next run resumes.
        raise jobs.ClaimLost(job)


def _eta_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def encode_image(
    image: Image,
    job: Job | None = None,
    batch_size: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> EncodeResult:
    """Encode every window of every level of ``image`` that is not stored yet.

    Resumable: windows whose FeatureTile row exists for the current cache key are skipped;
    each window's file is written atomically before its row, so a crash leaves no partial
    file and at worst a file without a row, which the next run rewrites. Cancellable: the
    job row is checked before every batch. Stale features (other cache keys) are deleted.

    Args:
        image: an ingested image (it has a COG).
        job: the Job row, for cancellation; progress goes to ``progress`` or the row.
        batch_size: windows per encoder call; ``settings.SAM2_BATCH_SIZE`` by default.
    Returns:
        What was done; the image is ``encoded`` when every window is stored.
    """
    return encode_windows(image, None, job=job, batch_size=batch_size, progress=progress)


def encode_windows(
    image: Image,
    windows: list[Window] | None,
    job: Job | None = None,
    batch_size: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> EncodeResult:
    """Encode the given windows of ``image``'s plan (every window when ``windows`` is None).

    The one encoding path: :func:`encode_image` calls it with the whole plan. A subset
    (e.g. the windows holding given points, from
    :func:`~annotator.sam2.windows.windows_holding`) stores exactly those windows' features
    and rows, as the whole-plan run would have; resumability, cancellation and stale-feature
    deletion are the same. The image becomes ``encoded`` only once every window of its plan
    is stored; a subset that leaves windows missing puts it back to ``ready``.

    Windows are encoded in the order of need (:mod:`annotator.sam2.priority`: clicks, open
    pages' views, assigned areas, then plan order), read again after every batch; each
    stored window's ``EncodeRequest`` rows are deleted.

    Args:
        image: an ingested image (it has a COG).
        windows: windows of :func:`image_windows` (level, row and column offsets in level
            pixels); a window that is not in the plan raises ``ValueError``.
        job, batch_size, progress: as for :func:`encode_image`.
    Returns:
        What was done; ``windows`` counts the whole plan, ``skipped`` the requested windows
        already stored.
    """
    started = time.monotonic()
    if not image.cog_key:
        raise Conflict("The image has no Cloud-Optimized GeoTIFF yet; it cannot be encoded.")
    report = progress or (job.set_progress if job is not None else (lambda fraction, message: None))
    batch_size = batch_size or settings.SAM2_BATCH_SIZE
    plan = image_windows(image)
    if windows is None:
        requested = plan
    else:
        planned = {(w.level, w.row_off, w.col_off): w for w in plan}
        unknown = [w.key for w in windows if (w.level, w.row_off, w.col_off) not in planned]
        if unknown:
            raise ValueError(f"windows not in the image's plan: {', '.join(unknown)}")
        # The plan's own objects, once each, so every stored window is exactly the planned one.
        requested = list(
            {(w.level, w.row_off, w.col_off): planned[(w.level, w.row_off, w.col_off)] for w in windows}.values()
        )
    model_name = image.project.sam2_model
    loaded = load_model(model_name)
    key = cache_key(image, model_name, loaded.checkpoint_digest)
    delete_stale_features(image, keep=key)
    priority.forget_stored(image, key)
    done = set(FeatureTile.objects.filter(image=image, cache_key=key).values_list("level", "row_off", "col_off"))
    todo = [w for w in requested if (w.level, w.row_off, w.col_off) not in done]
    already = len(requested) - len(todo)
    untrained_note = " (untrained weights)" if loaded.untrained else ""
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.ENCODING)
    report(already / len(requested), f"{already}/{len(requested)} windows stored{untrained_note}")
    storage = get_storage()
    encoded = 0
    remaining = {window_id(w): w for w in todo}  # plan order

    def next_batch(exclude: frozenset = frozenset()) -> list[Window]:
        """The next ``batch_size`` windows in the order of need now (``exclude``: ids being encoded)."""
        left = [w for k, w in remaining.items() if k not in exclude]
        requests = priority.pending_requests(image, key)
        return priority.order_windows(left, requests, priority.area_windows(image, left))[:batch_size]

    def read(batch: list[Window]) -> list[np.ndarray]:
        return [read_window_rgb(src, image, w) for w in batch]

    try:
        with (
            rasterio.Env(**GDAL_SAFE_ENV),
            storage.local_copy(image.cog_key, ".tif") as cog_path,
            rasterio.open(cog_path) as src,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode-read") as reader,
        ):
            # Reading the next batch overlaps with encoding the current one; the order of need
            # is read again after every batch, and a prefetched batch that a click has
            # overtaken is put back (read again later) instead of encoded first.
            prefetched: tuple[list[Window], object] | None = None
            while remaining:
                _check_cancelled(job)
                batch = next_batch()
                ids = [window_id(w) for w in batch]
                if prefetched is not None and [window_id(w) for w in prefetched[0]] == ids:
                    windows_rgb = prefetched[1].result()
                else:
                    windows_rgb = reader.submit(read, batch).result()
                following = next_batch(exclude=frozenset(ids))
                prefetched = (following, reader.submit(read, following)) if following else None
                features = encode_batch(loaded, windows_rgb)
                for window, tensors in zip(batch, features, strict=True):
                    _store_window(image, loaded, key, window, tensors)
                    del remaining[window_id(window)]
                priority.forget_stored(image, key)
                encoded += len(batch)
                stored = already + encoded
                elapsed = time.monotonic() - started
                eta = elapsed / encoded * (len(todo) - encoded)
                waiting = sum(1 for r in priority.pending_requests(image, key) if r.window in remaining)
                where = f"{waiting} asked-for window(s) waiting" if waiting else "every asked-for window ready"
                report(
                    stored / len(requested),
                    f"{stored}/{len(requested)} windows, {encoded / elapsed:.2f} windows/s, "
                    f"ETA {_eta_text(eta)}; {where}{untrained_note}",
                )
    except EncodeCancelled:
        if not active_encode_jobs(image).exclude(pk=job.pk if job else None).exists():
            Image.objects.filter(pk=image.pk, status=ImageStatus.ENCODING).update(status=ImageStatus.READY)
        raise
    delete_stale_features(image, keep=key)
    tiles = FeatureTile.objects.filter(image=image, cache_key=key)
    count = tiles.count()
    if count == len(plan):
        Image.objects.filter(pk=image.pk).update(status=ImageStatus.ENCODED)
        image.status = ImageStatus.ENCODED
    elif windows is not None and not active_encode_jobs(image).exclude(pk=job.pk if job else None).exists():
        # A subset leaves the image incomplete: it is not being encoded any more.
        Image.objects.filter(pk=image.pk, status=ImageStatus.ENCODING).update(status=ImageStatus.READY)
        image.status = ImageStatus.READY
    return EncodeResult(
        windows=len(plan),
        encoded=encoded,
        skipped=already,
        levels=max(w.level for w in plan) + 1,
        stored_bytes=sum(tiles.values_list("size_bytes", flat=True)),
        untrained=loaded.untrained,
        cache_key=key,
        seconds=time.monotonic() - started,
    )


@jobs.register(JobKind.ENCODE)
def run_encode_job(job: Job) -> str:
    """Runner of ``encode`` jobs: encode the SAM2 features of the image the row points to.

    Resumable (stored windows are skipped) and cancellable (the row is checked between
    batches); a cancelled job ends with the message "cancelled".
    """
    image = Image.objects.select_related("project").get(pk=job.target_id)
    try:
        return encode_image(image, job=job).message
    except EncodeCancelled:
        return "cancelled"


def _store_window(image: Image, loaded: LoadedModel, key: str, window: Window, tensors: dict) -> FeatureTile:
    """Write one window's fp16 features (atomically), then its FeatureTile row."""
    storage_key = feature_key(image, key, window)
    metadata = {
        "model": loaded.name,
        "checkpoint_digest": loaded.checkpoint_digest,
        "untrained": str(loaded.untrained).lower(),
        "level": str(window.level),
        "col_off": str(window.col_off),
        "row_off": str(window.row_off),
        "width": str(window.width),
        "height": str(window.height),
        "transform": json.dumps(list(window.transform.to_gdal())),
    }
    size = save_window_features(storage_key, {name: tensors[name] for name in FEATURE_NAMES}, metadata)
    tile, _created = FeatureTile.objects.update_or_create(
        image=image,
        cache_key=key,
        level=window.level,
        row_off=window.row_off,
        col_off=window.col_off,
        defaults={
            "model_name": loaded.name,
            "checkpoint_digest": loaded.checkpoint_digest,
            "untrained": loaded.untrained,
            "width": window.width,
            "height": window.height,
            "transform": list(window.transform.to_gdal()),
            "storage_key": storage_key,
            "size_bytes": size,
        },
    )
    return tile


# ---------------------------------------------------------------------------------------
# Reporting


def feature_stats(images) -> dict[tuple[int, str], tuple[int, int]]:
    """``{(image_id, cache_key): (windows stored, bytes stored)}`` for many images in one query."""
    rows = (
        FeatureTile.objects.filter(image__in=images)
        .values("image_id", "cache_key")
        .annotate(windows=Count("id"), stored=Sum("size_bytes"))
    )
    return {(r["image_id"], r["cache_key"]): (r["windows"], r["stored"] or 0) for r in rows}


def encoding_summary(image: Image, stats: dict[tuple[int, str], tuple[int, int]] | None = None) -> dict | None:
    """What the API shows about an image's SAM2 features; None before ingest.

    ``estimated_bytes`` is windows x 8 MiB (known before encoding); ``stored_bytes`` is the
    real size of the current features; ``untrained`` is true when the project's model has
    no checkpoint and runs with untrained weights (masks are then meaningless).
    """
    if not image.width or not image.height or not image.geotransform:
        return None
    model_name = image.project.sam2_model
    plan = image_windows(image)
    summary = {
        "model": model_name,
        "untrained": None,
        "checkpoint_missing": False,
        "windows": len(plan),
        "levels": max(w.level for w in plan) + 1,
        "estimated_bytes": len(plan) * FEATURE_BYTES_PER_WINDOW,
        "encoded_windows": 0,
        "stored_bytes": 0,
    }
    try:
        digest, untrained = model_identity(model_name)
    except CheckpointMissing:
        summary["checkpoint_missing"] = True
        return summary
    key = cache_key(image, model_name, digest)
    if stats is None:
        stats = feature_stats([image.pk])
    summary["untrained"] = untrained
    summary["encoded_windows"], summary["stored_bytes"] = stats.get((image.pk, key), (0, 0))
    return summary
