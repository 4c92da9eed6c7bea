"""Click-to-polygon: SAM2's prompt encoder and mask decoder on cached window features.

Coordinates: prompts arrive in a named CRS (EPSG:4326 lon/lat by default), are projected
to the image CRS with pyproj (always x, y order), then to image pixels (col, row) and to
window pixels through the window's affine transform, all in floating point. The mask is
the decoder's 256 x 256 low-resolution logits, whose zero level is traced in window pixels
(1024 x 1024, cropped to the window's valid size) without upsampling them; its polygon
goes back through the window transform to the image CRS and then to EPSG:4326. Areas are geodesic
(WGS84 ellipsoid), in m². Nothing is saved here.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
import torch
import torch.nn.functional as F
from affine import Affine
from django.conf import settings
from django.db.models import Q
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from sam2.utils.amg import calculate_stability_score
from shapely.geometry import MultiPolygon

from annotator.errors import InvalidInput, NotFound
from annotator.geometry import split_antimeridian
from annotator.models import FeatureTile, Image
from annotator.sam2 import features
from annotator.sam2.encoding import current_cache_key, image_affine
from annotator.sam2.priority import window_id
from annotator.sam2.registry import LoadedModel, load_decoder
from annotator.sam2.scores import candidate_disagreement
from annotator.sam2.windows import WINDOW_SIZE, Window, windows_holding
from annotator.segment import batching, on_demand, outline, prompt_sessions

# Prompts closer than this many window pixels to a cut window edge count as touching it.
EDGE_PX = 2
# Parts and holes of fewer window pixels are dropped (filled) by default.
MIN_AREA_PX = 16.0
MAX_POINTS = 64


@dataclass(frozen=True)
class WindowPrompts:
    """A :class:`PromptSet` projected into one window: pixels (col, row) of its 1024 x 1024 grid, float.

    Computed once per candidate window; the window choice, the decoder and the outline
    all read it.
    """

    points: np.ndarray  # [P + N, 2] the positive points first, then the negative ones
    labels: np.ndarray  # [P + N] int32: 1 positive, 0 negative
    box: np.ndarray | None  # [4] x0, y0, x1, y1 (x0 <= x1, y0 <= y1), or None
    positive_count: int

    @property
    def positive(self) -> np.ndarray:
        """[P, 2] the positive points."""
        return self.points[: self.positive_count]

    def margin(self, width: int, height: int, cut_edges: tuple[bool, bool, bool, bool]) -> float:
        """Smallest distance, in window pixels, from the prompts to a cut edge; -1 if one lies outside.

        Args:
            width, height: the window's valid size (window pixels).
            cut_edges: left, top, right, bottom: whether that edge cuts through the image.
        """
        corners = [self.points] if self.box is None else [self.points, self.box.reshape(2, 2)]
        pts = np.concatenate(corners, axis=0)
        distances = [pts[:, 0], pts[:, 1], width - pts[:, 0], height - pts[:, 1]]
        margin = np.inf
        for d, is_cut in zip(distances, cut_edges, strict=True):
            if d.min() < 0:
                return -1.0
            if is_cut:
                margin = min(margin, float(d.min()))
        return margin


@dataclass(frozen=True)
class PromptSet:
    """Prompts in image pixels (col, row) of level 0, float."""

    positive: np.ndarray  # [P, 2]
    negative: np.ndarray  # [N, 2]
    box: np.ndarray | None  # [4] x0, y0, x1, y1

    def bounds(self) -> tuple[float, float, float, float]:
        """(col_min, row_min, col_max, row_max) of every point and box corner, image pixels."""
        parts = [self.positive, self.negative]
        if self.box is not None:
            parts.append(self.box.reshape(2, 2))
        points = np.concatenate(parts, axis=0)
        (col_min, row_min), (col_max, row_max) = points.min(axis=0), points.max(axis=0)
        return float(col_min), float(row_min), float(col_max), float(row_max)

    def in_window(self, to_window: Affine) -> WindowPrompts:
        """The prompts in a window's pixels, through ``to_window`` (image pixel → window pixel)."""
        pts = [to_window @ (float(x), float(y)) for x, y in np.concatenate([self.positive, self.negative])]
        labels = np.array([1] * len(self.positive) + [0] * len(self.negative), dtype=np.int32)
        box = None
        if self.box is not None:
            a = to_window @ (float(self.box[0]), float(self.box[1]))
            b = to_window @ (float(self.box[2]), float(self.box[3]))
            box = np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])])
        return WindowPrompts(np.array(pts, dtype=np.float64).reshape(-1, 2), labels, box, len(self.positive))


@dataclass(frozen=True)
class WindowRef:
    """A stored window of the current cache: its row and its geometry at its level."""

    tile: FeatureTile
    transform: Affine  # window pixel → image CRS
    to_window: Affine  # image pixel → window pixel
    cut_edges: tuple[bool, bool, bool, bool]  # left, top, right, bottom lie inside the image

    @property
    def key(self) -> str:
        t = self.tile
        return f"{t.image_id}:{t.cache_key}:L{t.level}_r{t.row_off}_c{t.col_off}"


@dataclass(frozen=True)
class PromptedWindow:
    """A window that holds every prompt, with the prompts in its pixels and their margin to its cut edges."""

    window: WindowRef
    prompts: WindowPrompts
    margin: float  # window pixels


@dataclass
class Decoded:
    """One decoder call's result in window pixels."""

    window: WindowRef
    prompts: WindowPrompts
    scores: np.ndarray  # [C]
    best: int
    low_res: np.ndarray  # [C, 256, 256] float32 logits: the masks are their bilinear upsampling > 0
    used_previous_mask: bool
    load_ms: float
    decode_ms: float
    touches_cut: bool = False


# ---------------------------------------------------------------------------------------
# Model (prompt encoder + mask decoder), loaded once per process


def decoder_model(name: str) -> LoadedModel:
    """SAM2's prompt encoder and mask decoder (never the image encoder); built once per process, shared by threads.

    Inference is stateless (eval mode, no grad), so concurrent requests may share it.
    """
    return load_decoder(name)


# ---------------------------------------------------------------------------------------
# Coordinates


@lru_cache(maxsize=64)
def _transformer(src: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_wkt(dst_wkt), always_xy=True)


@lru_cache(maxsize=64)
def _is_geographic(crs: str) -> bool:
    return CRS.from_user_input(crs).is_geographic


@lru_cache(maxsize=64)
def _to_4326(src_wkt: str) -> Transformer:
    # Cached: building a transformer costs ~1.7 ms, twice per click (pyproj's are thread-safe).
    return Transformer.from_crs(CRS.from_wkt(src_wkt), CRS.from_epsg(4326), always_xy=True)


def prompts_to_pixels(
    image: Image, positive: list, negative: list, box_coords: list | None, crs: str = "EPSG:4326"
) -> PromptSet:
    """Map prompts from ``crs`` (x, y order; lon, lat for EPSG:4326) to image pixels (col, row), float.

    Raises InvalidInput naming the field when a prompt lies outside the image.
    """
    try:
        transformer = _transformer(crs, image.crs_wkt)
    except CRSError:
        raise InvalidInput(f"Unknown coordinate reference system {crs!r}.", field="crs") from None
    inverse = ~Affine.from_gdal(*image.geotransform)

    # Longitudes name the same place every 360°: near the antimeridian a prompt may come as
    # -179.95 or 180.05, and the image may run on past 180 in its own CRS.
    geographic = _is_geographic(crs)

    def to_pixels(xs: list[float], ys: list[float]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = transformer.transform(xs, ys)
        pixels = np.array([inverse @ (x, y) for x, y in zip(xs, ys, strict=True)], dtype=np.float64)
        inside = (
            np.isfinite(pixels).all(axis=1)
            & (pixels[:, 0] >= 0)
            & (pixels[:, 0] <= image.width)
            & (pixels[:, 1] >= 0)
            & (pixels[:, 1] <= image.height)
        )
        return pixels, inside

    def convert(points: list, name: str) -> np.ndarray:
        if not points:
            return np.zeros((0, 2))
        xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
        pixels, inside = to_pixels(xs, ys)
        for turn in (360.0, -360.0) if geographic else ():
            if inside.all():
                break
            shifted, shifted_inside = to_pixels([x + turn for x in xs], ys)
            use = ~inside & shifted_inside
            pixels[use], inside = shifted[use], inside | shifted_inside
        if not inside.all():
            bad = int(np.flatnonzero(~inside)[0])
            raise InvalidInput(
                f"{name}[{bad}] ({points[bad][0]}, {points[bad][1]}) lies outside the image.", field=name
            )
        return pixels

    pos = convert(positive, "positive")
    neg = convert(negative, "negative")
    box_px = None
    if box_coords is not None:
        corners = convert([box_coords[:2], box_coords[2:]], "box")
        box_px = np.array(
            [corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max()], dtype=np.float64
        )
    return PromptSet(pos, neg, box_px)


# ---------------------------------------------------------------------------------------
# Window and level


def window_ref(image: Image, tile: FeatureTile) -> WindowRef:
    """A stored window's geometry: its transforms and which of its edges cut through the image."""
    transform = tile.affine
    image_to_window = ~transform @ Affine.from_gdal(*image.geotransform)
    # Which window edges are cuts through the image (as opposed to the image's own border).
    scale = 2**tile.level
    left = tile.col_off > 0
    top = tile.row_off > 0
    right = (tile.col_off + tile.width) * scale < image.width
    bottom = (tile.row_off + tile.height) * scale < image.height
    return WindowRef(tile, transform, image_to_window, (left, top, right, bottom))


def candidate_windows(image: Image, prompts: PromptSet, cache_key: str | None = None) -> list[WindowRef]:
    """The stored windows (current cache key) that may hold every prompt, finest level first, in one query.

    ``cache_key`` names another model's features instead (the model evaluation compares models).

    The window plan names them by arithmetic from the prompts' pixel bounds and the image
    size (:func:`~annotator.sam2.windows.windows_holding`, with a pixel of slack), so only
    a few rows per level are read instead of every window of the image (3,612 at the pixel
    limit). :func:`choose_windows` then checks each exactly.
    """
    planned = windows_holding(
        image.width,
        image.height,
        image_affine(image),
        prompts.bounds(),
        stride=settings.SAM2_WINDOW_STRIDE,
    )
    # At each level the holding windows are every pairing of their row and column offsets.
    offsets: dict[int, tuple[set[int], set[int]]] = {}
    for window in planned:
        rows, cols = offsets.setdefault(window.level, (set(), set()))
        rows.add(window.row_off)
        cols.add(window.col_off)
    if not offsets:
        return []
    where = Q()
    for level, (rows, cols) in offsets.items():
        where |= Q(level=level, row_off__in=sorted(rows), col_off__in=sorted(cols))
    key = cache_key or current_cache_key(image)
    tiles = FeatureTile.objects.filter(where, image=image, cache_key=key)
    return [window_ref(image, tile) for tile in tiles.order_by("level", "row_off", "col_off")]


def choose_windows(refs: list[WindowRef], prompts: PromptSet) -> list[PromptedWindow]:
    """Per level (finest first), the window holding all prompts with the most margin to its cut edges.

    Levels where no window holds every prompt are skipped. The prompts are projected into
    each window once; the result carries them on to the decoder.
    """
    best: dict[int, PromptedWindow] = {}
    for ref in refs:
        in_window = prompts.in_window(ref.to_window)
        margin = in_window.margin(ref.tile.width, ref.tile.height, ref.cut_edges)
        if margin < 0:
            continue
        level = ref.tile.level
        if level not in best or margin > best[level].margin:
            best[level] = PromptedWindow(ref, in_window, margin)
    return [best[level] for level in sorted(best)]


# ---------------------------------------------------------------------------------------
# Decoder


def load_window(ref: WindowRef, loaded: LoadedModel) -> tuple[features.WindowFeatures, bool]:
    """Decoder-ready features of a window from the LRU, else from storage; ``(features, was_cached)``."""

    def load() -> features.WindowFeatures:
        return features.to_decoder_inputs(features.load_window_tensors(ref.tile.storage_key), loaded.device)

    return features.feature_cache().get_or_load(ref.key, load)


@torch.inference_mode()
def run_decoder(
    loaded: LoadedModel,
    feats: features.WindowFeatures,
    points: np.ndarray | None,
    labels: np.ndarray | None,
    box_px: np.ndarray | None,
    mask_input: np.ndarray | None,
    multimask: bool,
) -> tuple[torch.Tensor, np.ndarray]:
    """SAM2's prompt encoder and mask decoder, as ``SAM2ImagePredictor._predict`` runs them.

    The decoder (:mod:`annotator.sam2.decoder`) runs through this process's :mod:`batching` queue.

    Args:
        points: [N, 2] window pixels (x, y) in the 1024 x 1024 frame; labels [N] (1 positive, 0 negative).
        box_px: [4] x0, y0, x1, y1 window pixels, or None.
        mask_input: [1, 256, 256] previous low-resolution logits, or None.
    Returns:
        Low-resolution logits [C, 256, 256] (clamped to ±32, as the predictor does) and scores [C].
    """
    model = loaded.model
    device = loaded.device
    scale = model.image_size / WINDOW_SIZE
    coords, point_labels = [], []
    if box_px is not None:
        coords.append(torch.as_tensor(box_px, dtype=torch.float32).reshape(2, 2) * scale)
        point_labels.append(torch.tensor([2, 3], dtype=torch.int32))
    if points is not None and len(points):
        coords.append(torch.as_tensor(points, dtype=torch.float32) * scale)
        point_labels.append(torch.as_tensor(labels, dtype=torch.int32))
    concat = (torch.cat(coords)[None].to(device), torch.cat(point_labels)[None].to(device))
    masks = None
    if mask_input is not None:
        masks = torch.as_tensor(mask_input, dtype=torch.float32, device=device)[None]
    sparse, dense = model.sam_prompt_encoder(points=concat, boxes=None, masks=masks)
    # One pass at a time per process, with the clicks that arrived meanwhile (batching.py).
    low_res, scores, _ = batching.decoder_batcher().decode(model, feats, sparse, dense, multimask)
    return torch.clamp(low_res, -32.0, 32.0), scores.float().cpu().numpy()


def upsample(low_res: torch.Tensor, width: int, height: int) -> np.ndarray:
    """Low-resolution logits [C, 256, 256] → boolean masks [C, height, width] in window pixels.

    Bilinear to 1024 x 1024 as SAM2's ``postprocess_masks`` does, then cropped to the valid
    size. The endpoint never builds these: it outlines the logits themselves
    (:func:`outline.logits_outline`); the tests use them as the reference.
    """
    full = F.interpolate(low_res[None].float(), (WINDOW_SIZE, WINDOW_SIZE), mode="bilinear", align_corners=False)
    return (full[0, :, :height, :width] > 0).cpu().numpy()


def decode_in_window(
    loaded: LoadedModel,
    chosen: PromptedWindow,
    mask_input: np.ndarray | None,
    return_all: bool,
) -> Decoded:
    """Decode the prompts in one window (logits only: the outline is traced on them)."""
    ref, prompts = chosen.window, chosen.prompts
    t0 = time.perf_counter()
    feats, _cached = load_window(ref, loaded)
    t1 = time.perf_counter()
    single_click = len(prompts.points) == 1 and prompts.box is None and mask_input is None
    low_res, scores = run_decoder(
        loaded,
        feats,
        prompts.points,
        prompts.labels,
        prompts.box,
        mask_input,
        multimask=single_click or return_all,
    )
    best = int(np.argmax(scores))
    logits = low_res.float().cpu().numpy()
    t2 = time.perf_counter()
    decoded = Decoded(
        window=ref,
        prompts=prompts,
        scores=scores,
        best=best,
        low_res=logits,
        used_previous_mask=mask_input is not None,
        load_ms=(t1 - t0) * 1000,
        decode_ms=(t2 - t1) * 1000,
    )
    decoded.touches_cut = logits_touch_cut_edge(logits[best], ref.tile.width, ref.tile.height, ref.cut_edges)
    return decoded


def touches_cut_edge(mask: np.ndarray, cut_edges: tuple[bool, bool, bool, bool]) -> bool:
    """Whether the mask [h, w] reaches a window edge that cuts through the image."""
    left, top, right, bottom = cut_edges
    e = EDGE_PX
    return bool(
        (left and mask[:, :e].any())
        or (top and mask[:e, :].any())
        or (right and mask[:, -e:].any())
        or (bottom and mask[-e:, :].any())
    )


def logits_touch_cut_edge(
    logits: np.ndarray, width: int, height: int, cut_edges: tuple[bool, bool, bool, bool]
) -> bool:
    """:func:`touches_cut_edge` of the upsampled mask of ``logits`` [256, 256], computing only its edge strips."""
    left, top, right, bottom = cut_edges
    e = min(EDGE_PX, width, height)
    rows, cols = np.arange(height), np.arange(width)
    strips = [
        (left, rows, cols[:e]),
        (top, rows[:e], cols),
        (right, rows, cols[width - e :]),
        (bottom, rows[height - e :], cols),
    ]
    return any(cut and bool((outline.upsampled_at(logits, r, c) > 0).any()) for cut, r, c in strips)


# ---------------------------------------------------------------------------------------
# Mask → polygon (:mod:`outline`) → EPSG:4326


def _through(transform: Affine, transformer: Transformer):
    """A ``shapely.transform`` function: window pixels → image CRS (the window's affine) → the transformer's CRS."""
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f

    def apply(xy: np.ndarray) -> np.ndarray:
        x = a * xy[:, 0] + b * xy[:, 1] + c
        y = d * xy[:, 0] + e * xy[:, 1] + f
        return np.column_stack(transformer.transform(x, y))

    return apply


def window_to_4326(geometry: MultiPolygon, transform: Affine, crs_wkt: str, frame_lon: float | None = None):
    """Window pixel geometry → EPSG:4326 (lon, lat), in one vectorized pass over the vertices.

    With ``frame_lon`` (the middle longitude of an image across the antimeridian), every
    longitude is moved by a multiple of 360° to within 180° of it: the outline comes out in
    the image's continuous frame (:mod:`annotator.geometry`), ready to be split.
    """
    through = _through(transform, _to_4326(crs_wkt))
    if frame_lon is None:
        return shapely.transform(geometry, through)

    def in_frame(xy: np.ndarray) -> np.ndarray:
        lonlat = through(xy)
        lonlat[:, 0] += 360.0 * np.round((frame_lon - lonlat[:, 0]) / 360.0)
        return lonlat

    return shapely.transform(geometry, in_frame)


def antimeridian_frame(image: Image) -> float | None:
    """The middle longitude of an image whose footprint crosses the antimeridian, else None."""
    if image.footprint is None:
        return None
    west, _south, east, _north = image.footprint.extent
    return (west + east) / 2.0 if west < -180.0 or east > 180.0 else None


def image_center(image: Image) -> tuple[float, float]:
    """The image's centre in EPSG:4326 (lon, lat), rounded to 0.01°."""
    x, y = Affine.from_gdal(*image.geotransform) @ (image.width / 2, image.height / 2)
    lon, lat = _to_4326(image.crs_wkt).transform(x, y)
    return round(lon, 2), round(lat, 2)


@lru_cache(maxsize=64)
def _area_transformer(crs_wkt: str, lon: float, lat: float) -> Transformer:
    # Lambert azimuthal equal-area on the WGS84 ellipsoid: a planar area there is the area on
    # the ellipsoid, so shapely's C area replaces a per-ring geodesic loop (thousands of
    # rings on a noisy mask). The centre only keeps the numbers small.
    laea = CRS.from_proj4(f"+proj=laea +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m +no_defs")
    return Transformer.from_crs(CRS.from_wkt(crs_wkt), laea, always_xy=True)


def area_m2(geometry_px: MultiPolygon, transform: Affine, to_equal_area: Transformer) -> float:
    """Area in m² on the WGS84 ellipsoid of a window-pixel geometry (through an equal-area projection)."""
    if geometry_px.is_empty:
        return 0.0
    return float(shapely.area(shapely.transform(geometry_px, _through(transform, to_equal_area))))


# ---------------------------------------------------------------------------------------
# The request


@dataclass
class SegmentRequest:
    positive: list[list[float]]
    negative: list[list[float]]
    box: list[float] | None = None
    crs: str = "EPSG:4326"
    session_id: str | None = None
    simplify_px: float = 0.5
    min_area_px: float = MIN_AREA_PX
    max_vertices: int | None = None
    return_all: bool = False
    user_id: int | None = None  # who clicks: the prompt session's figures are theirs alone


# Clicks of one prompt session are decoded one at a time (each refines the last mask).
# A fixed set of lock stripes keeps that promise with bounded memory, whatever the number
# of sessions a long-lived web process sees; two sessions rarely share a stripe, and then
# only wait for each other's decode.
NOTHING_FOUND = (
    "SAM2 found nothing here: the mask under the prompts is empty or smaller than {min_area_px} "
    "pixels. Click inside an object, add a box, or lower min_area_px."
)
_SESSION_LOCKS = tuple(threading.Lock() for _ in range(64))


def _session_lock(session_id: str) -> threading.Lock:
    digest = hashlib.blake2b(session_id.encode(), digest_size=2).digest()
    return _SESSION_LOCKS[int.from_bytes(digest, "big") % len(_SESSION_LOCKS)]


def needed_windows(image: Image, prompts) -> list[Window]:
    """The planned windows the segment service would use for ``prompts`` (a ``PromptSet``), finest first.

    The same choice as :func:`choose_windows`, made on the plan instead of the stored rows:
    at most :data:`on_demand.LEVELS_USED` windows (what an on-demand encode must store).
    """
    planned = windows_holding(
        image.width, image.height, image_affine(image), prompts.bounds(), stride=settings.SAM2_WINDOW_STRIDE
    )
    refs = [
        window_ref(
            image,
            FeatureTile(
                image=image,
                level=w.level,
                row_off=w.row_off,
                col_off=w.col_off,
                width=w.width,
                height=w.height,
                transform=list(w.transform.to_gdal()),
            ),
        )
        for w in planned
    ]
    by_id = {window_id(w): w for w in planned}
    chosen = choose_windows(refs, prompts)[: on_demand.LEVELS_USED]
    return [by_id[window_id(c.window.tile)] for c in chosen]


def segment(image: Image, request: SegmentRequest) -> Segmentation:
    """Decode the prompts into a GeoJSON Feature (EPSG:4326) with score, level, window, timings.

    The finest level whose window holds every prompt is tried first; when the mask reaches
    a window edge that cuts through the image, the next coarser level is tried and the
    better result returned (the one whose mask is not cut, else the higher score).
    """
    started = time.perf_counter()
    partial = on_demand.needs_on_demand(image)
    if not request.positive and request.box is None:
        raise InvalidInput("Give at least one positive point or a box.", field="positive")
    session_id = prompt_sessions.check_session_id(request.session_id)
    prompts = prompts_to_pixels(image, request.positive, request.negative, request.box, request.crs)
    if partial:
        on_demand.ensure_windows(image, needed_windows(image, prompts))
    refs = candidate_windows(image, prompts)
    if not refs and not FeatureTile.objects.filter(image=image, cache_key=current_cache_key(image)).exists():
        raise NotFound("The image's SAM2 features are missing; encode it again.")
    candidates = choose_windows(refs, prompts)
    if not candidates:
        raise InvalidInput("No encoded window holds these prompts.", field="positive")
    loaded = decoder_model(image.project.sam2_model)
    with _session_lock(session_id):
        tried = []
        result = None
        for chosen in candidates[:2]:
            step = _step_for(chosen.window, prompts)
            mask_input = prompt_sessions.previous_logits(session_id, step) if request.session_id else None
            decoded = decode_in_window(loaded, chosen, mask_input, request.return_all)
            tried.append(decoded)
            if not decoded.touches_cut:
                break
        result = _better(tried)
        step = _step_for(result.window, prompts)
        figures = mask_figures(result)
        # The figures a save with this session_id attaches, whatever the browser sends.
        remembered = {**figures, "image": image.pk, "user": request.user_id}
        session_saved = prompt_sessions.record(session_id, step, result.low_res[result.best], remembered)
    t_poly = time.perf_counter()
    ref = result.window
    area = _area_transformer(image.crs_wkt, *image_center(image))
    frame_lon = antimeridian_frame(image)

    def outline_of(logits: np.ndarray) -> tuple[outline.Outline, MultiPolygon, float]:
        shape = outline.logits_outline(
            logits,
            ref.tile.width,
            ref.tile.height,
            result.prompts.positive,
            result.prompts.box,
            request.simplify_px,
            request.min_area_px,
            request.max_vertices,
        )
        lonlat = window_to_4326(shape.geometry, ref.transform, image.crs_wkt, frame_lon)
        if frame_lon is not None:
            lonlat = split_antimeridian(lonlat)
        return shape, lonlat, area_m2(shape.geometry, ref.transform, area)

    best_outline, geometry, best_area = outline_of(result.low_res[result.best])
    candidates_out = None
    if request.return_all:
        candidates_out = []
        for i, score in enumerate(result.scores):
            shape, g, a = outline_of(result.low_res[i]) if i != result.best else (best_outline, geometry, best_area)
            candidates_out.append((g, {"score": float(score), "area_m2": a, "simplify_px": shape.simplify_px}))
    t_end = time.perf_counter()
    tile = ref.tile
    properties = {
        "score": float(result.scores[result.best]),
        "level": tile.level,
        "window": {
            "level": tile.level,
            "col_off": tile.col_off,
            "row_off": tile.row_off,
            "width": tile.width,
            "height": tile.height,
        },
        "levels_tried": [d.window.tile.level for d in tried],
        "mask_cut_by_window_edge": result.touches_cut,
        **figures,
        "model": tile.model_name,
        "untrained": tile.untrained,
        "session_id": session_id,
        # False when Redis was unreachable: the outline is good, but the next click of this
        # session starts afresh instead of refining it.
        "session_saved": session_saved,
        "used_previous_mask": result.used_previous_mask,
        "area_m2": best_area,
        "simplify_px": best_outline.simplify_px,
        "vertices": best_outline.vertices,
        "holes_filled": best_outline.holes_filled,
        "crs": "EPSG:4326",
        "found": not geometry.is_empty,
        "message": "" if not geometry.is_empty else NOTHING_FOUND.format(min_area_px=request.min_area_px),
        "timing_ms": {
            "load": round(sum(d.load_ms for d in tried), 2),
            "decode": round(sum(d.decode_ms for d in tried), 2),
            "polygonize": round((t_end - t_poly) * 1000, 2),
            "total": round((t_end - started) * 1000, 2),
        },
    }
    return Segmentation(geometry, properties, candidates_out)


@dataclass
class Segmentation:
    """The endpoint's answer: an EPSG:4326 outline, its properties and optionally the candidates'."""

    geometry: MultiPolygon
    properties: dict
    candidates: list[tuple[MultiPolygon, dict]] | None = None

    def to_json(self) -> str:
        """The GeoJSON Feature as text; GEOS writes the coordinates (several times faster than ``json``)."""
        properties = json.dumps(self.properties)
        if self.candidates is not None:
            items = ",".join(f'{{"geometry":{_geojson(g)},{json.dumps(info)[1:]}' for g, info in self.candidates)
            properties = f'{properties[:-1]},"candidates":[{items}]}}'
        return f'{{"type":"Feature","geometry":{_geojson(self.geometry)},"properties":{properties}}}'

    def to_dict(self) -> dict:
        return json.loads(self.to_json())


def _geojson(geometry) -> str:
    return "null" if geometry.is_empty else shapely.to_geojson(geometry)


def _step_for(ref: WindowRef, prompts: PromptSet) -> prompt_sessions.Step:
    items: list[tuple[float, float, int]] = []
    if prompts.box is not None:
        items += [
            (round(prompts.box[0], 3), round(prompts.box[1], 3), 2),
            (round(prompts.box[2], 3), round(prompts.box[3], 3), 3),
        ]
    items += [(round(float(x), 3), round(float(y), 3), 1) for x, y in prompts.positive]
    items += [(round(float(x), 3), round(float(y), 3), 0) for x, y in prompts.negative]
    return prompt_sessions.Step(ref.key, tuple(items))


def mask_figures(decoded: Decoded) -> dict:
    """SAM2's figures of the chosen mask, as :mod:`annotator.workflow.risk` reads them.

    ``predicted_iou``: the decoder's IoU prediction; ``stability``: SAM2's
    ``calculate_stability_score`` with offset 1.0 on the logits bilinearly upsampled to
    window pixels (cropped to the valid size), as its automatic mask generator computes it
    (None for an empty mask); ``candidate_disagreement``: 1 - the mean IoU of the chosen mask
    with the other candidates, on the 256 x 256 logits > 0 (None with one candidate);
    ``touches_window_edge``: the mask reaches a window edge that cuts the image; with the
    window, level and model that made it.
    """
    tile = decoded.window.tile
    chosen = decoded.low_res[decoded.best]
    return {
        "predicted_iou": float(decoded.scores[decoded.best]),
        "stability": stability_score(chosen, tile.width, tile.height),
        "candidate_disagreement": candidate_disagreement(decoded.low_res, decoded.best, tile.width, tile.height),
        "touches_window_edge": bool(decoded.touches_cut),
        "level": tile.level,
        "window": {"level": tile.level, "col_off": tile.col_off, "row_off": tile.row_off},
        "model": tile.model_name,
        "untrained": tile.untrained,
    }


STABILITY_OFFSET = 1.0  # SAM2AutomaticMaskGenerator's stability_score_offset


def stability_score(logits: np.ndarray, width: int, height: int) -> float | None:
    """``calculate_stability_score(upsampled, 0.0, 1.0)`` of one mask's logits [256, 256].

    Only the window pixels (of the valid ``width`` x ``height``) whose bilinear value can
    exceed -1 are upsampled: those within one low-resolution cell of a cell above -1 (a
    pixel is a mix of two cells per axis, so both at or below -1 keep it there). The same
    number as upsampling the whole window, at a fraction of its cost for small objects.
    """
    rows, cols = np.nonzero(logits > -STABILITY_OFFSET)
    if not len(rows):
        return None
    step = WINDOW_SIZE // outline.LOW_RES

    def span(first: int, last: int, size: int) -> np.ndarray:
        return np.arange(max(0, (first - 1) * step), min(size, (last + 2) * step))

    up = outline.upsampled_at(logits, span(rows.min(), rows.max(), height), span(cols.min(), cols.max(), width))
    score = calculate_stability_score(torch.from_numpy(up)[None], 0.0, STABILITY_OFFSET)
    value = float(score[0])
    return round(value, 6) if np.isfinite(value) else None


def _better(tried: list[Decoded]) -> Decoded:
    """The last uncut result, else the one with the highest score."""
    uncut = [d for d in tried if not d.touches_cut]
    if uncut:
        return uncut[-1]
    return max(tried, key=lambda d: float(d.scores[d.best]))
