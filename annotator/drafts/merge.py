"""Merging masks across overlapping windows and levels, by mask overlap in level-0 image pixels.

Windows overlap (1024 px every 768 px) and every level covers the whole image, so one
object is usually found several times. Each window's masks become :class:`Candidate`
polygons in level-0 image pixels (col, row), and are merged into what earlier windows
kept (:func:`merge_into`), window after window, finest level first:

1. **Crop-edge rule** (SAM's): a mask near a cut window edge (``touches_window_edge``) is
   only a piece of its object. It loses to a whole mask (not cut) that covers at least
   ``CUT_COVER`` of it, from any window or level; a whole mask that arrives later replaces
   the pieces it covers.
2. **Pieces of one object**: two pieces that overlap by ``CUT_COVER`` of the smaller (the
   two sides of a seam, seen from both windows) become their union, still flagged as cut
   (an object larger than the windows' overlap that no coarser window returned whole).
3. **Duplicates**: two whole masks with mask IoU >= ``iou_threshold`` are one object; the
   finer level wins (more detail, as SAM2's crop NMS prefers smaller crops), then the
   higher predicted IoU.

Every rule reads polygon areas in image space (shapely), never boxes alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import rasterio.features
import shapely
from affine import Affine

from annotator.geometry import polygon_iou

# A cut piece inside a whole mask by this share of its area is that object; two pieces
# overlapping by this share of the smaller are one object.
CUT_COVER = 0.5


@dataclass(eq=False)  # compared by identity: the same mask may be found twice
class Candidate:
    """One mask as a polygon in level-0 image pixels, with its figures.

    Attributes:
        polygon: shapely (Multi)Polygon, level-0 image pixels (col, row).
        predicted_iou, stability, disagreement: the decoder's figures (see :mod:`filters`).
        level: the pyramid level of its window.
        window: (col_off, row_off, width, height) of its window at its level.
        touches_window_edge: near a window edge that cuts through the image.
        point: (col, row) level-0 image pixels of its point prompt.
        draft_id: the Annotation row holding it, once saved (None before).
        pieces: how many cut pieces were joined into it (1: none).
    """

    polygon: shapely.Geometry
    predicted_iou: float
    stability: float
    level: int
    window: tuple[int, int, int, int]
    touches_window_edge: bool
    point: tuple[float, float] = (0.0, 0.0)
    disagreement: float = 0.0
    draft_id: int | None = None
    pieces: int = 1
    extra: dict = field(default_factory=dict)

    @property
    def area(self) -> float:
        """Area in level-0 image pixels."""
        return float(shapely.area(self.polygon))

    def rank(self) -> tuple:
        """Sort key of whole masks: finer level first, then higher predicted IoU, then stability."""
        return (self.level, -self.predicted_iou, -self.stability)


@dataclass
class MergeResult:
    """What one window changed: the kept list after it, new candidates to save, saved ones to drop or rewrite."""

    kept: list[Candidate]
    added: list[Candidate]
    removed: list[Candidate]
    changed: list[Candidate]


def _covered(piece: shapely.Geometry, by: shapely.Geometry) -> float:
    """Share of ``piece``'s area inside ``by``."""
    area = shapely.area(piece)
    return 0.0 if area <= 0 else float(shapely.area(shapely.intersection(piece, by)) / area)


def _overlap_of_smaller(a: shapely.Geometry, b: shapely.Geometry) -> float:
    smaller = min(shapely.area(a), shapely.area(b))
    return 0.0 if smaller <= 0 else float(shapely.area(shapely.intersection(a, b)) / smaller)


def merge_into(
    kept: list[Candidate], new: list[Candidate], iou_threshold: float, cover: float = CUT_COVER
) -> MergeResult:
    """Merge one window's candidates into those kept so far (the rules of the module doc).

    ``kept`` candidates that were saved (``draft_id``) and lose are listed in ``removed``;
    saved cut pieces that grow by a union are listed in ``changed``. Candidates of ``new``
    that survive are in ``added`` (and in the returned ``kept``). The inputs are not modified.
    """
    kept = list(kept)
    added: list[Candidate] = []
    removed: list[Candidate] = []
    changed: dict[int, Candidate] = {}
    whole_first = sorted(new, key=lambda c: (c.touches_window_edge, c.rank()))
    for cand in whole_first:
        if cand.polygon.is_empty or cand.area <= 0:
            continue
        near = [k for k in kept if shapely.intersects(k.polygon, cand.polygon)]
        if not cand.touches_window_edge:
            duplicate = next(
                (
                    k
                    for k in near
                    if not k.touches_window_edge and polygon_iou(k.polygon, cand.polygon) >= iou_threshold
                ),
                None,
            )
            if duplicate is not None:
                if duplicate.rank() <= cand.rank():
                    continue
                _drop(kept, added, removed, changed, duplicate)
            for piece in [k for k in near if k.touches_window_edge and _covered(k.polygon, cand.polygon) >= cover]:
                _drop(kept, added, removed, changed, piece)
            kept.append(cand)
            added.append(cand)
            continue
        if any(not k.touches_window_edge and _covered(cand.polygon, k.polygon) >= cover for k in near):
            continue
        partner = next(
            (k for k in near if k.touches_window_edge and _overlap_of_smaller(k.polygon, cand.polygon) >= cover), None
        )
        if partner is None:
            kept.append(cand)
            added.append(cand)
            continue
        joined = replace(
            partner,
            polygon=shapely.make_valid(shapely.union(partner.polygon, cand.polygon)),
            predicted_iou=min(partner.predicted_iou, cand.predicted_iou),
            stability=min(partner.stability, cand.stability),
            disagreement=float(np.fmax(partner.disagreement, cand.disagreement)),
            pieces=partner.pieces + cand.pieces,
        )
        kept[kept.index(partner)] = joined
        if partner in added:
            added[added.index(partner)] = joined
        elif joined.draft_id is not None:
            changed[joined.draft_id] = joined
    return MergeResult(kept, added, removed, [c for c in changed.values() if c in kept])


def _drop(kept, added, removed, changed, loser: Candidate) -> None:
    kept.remove(loser)
    if loser in added:
        added.remove(loser)
    elif loser.draft_id is not None:
        removed.append(loser)
        changed.pop(loser.draft_id, None)


def merge_windows(windows: list[list[Candidate]], iou_threshold: float, cover: float = CUT_COVER) -> list[Candidate]:
    """Merge every window's candidates in the given order (finest level first): the kept candidates."""
    kept: list[Candidate] = []
    for candidates in windows:
        kept = merge_into(kept, candidates, iou_threshold, cover).kept
    return kept


def mask_polygon(mask: np.ndarray, window_to_image: Affine) -> shapely.Geometry:
    """A boolean mask [h, w] of window pixels as a (Multi)Polygon in level-0 image pixels (exact pixel edges)."""
    parts = [
        shapely.geometry.shape(geom)
        for geom, value in rasterio.features.shapes(mask.astype(np.uint8), mask, transform=window_to_image)
        if value
    ]
    return shapely.make_valid(shapely.union_all(parts)) if parts else shapely.Polygon()
