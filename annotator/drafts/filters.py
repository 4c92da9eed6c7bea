"""SAM2's automatic-mask filters on one window's cached features (no image encoder).

This is ``SAM2AutomaticMaskGenerator._process_batch`` and ``_process_crop`` with the crop
being one stored encoder window: the point prompts go through SAM2's prompt encoder and
mask decoder in batches of ``points_per_batch`` (``repeat_image`` as the predictor does),
three masks per point; then, in SAM2's order, the predicted-IoU filter, the optional
one-step mask-to-mask refinement (``use_m2m``), the stability score
(``calculate_stability_score`` on the logits upsampled to the window's pixels), the mask
threshold, the boxes (``batched_mask_to_box``) and box NMS within the window
(``batched_nms`` by predicted IoU). SAM2's own functions compute the scores; the tests
check the kept masks against the generator's internals.

Two things differ on purpose: a mask near a cut window edge is flagged, not dropped (the
merge, :mod:`merge`, lets the window that holds it whole win); and ``min_mask_region_area``
is applied when the mask is outlined (specks and holes), not before the stability score.

Pixels: window pixels (x, y) of the 1024 x 1024 frame; a window's valid part is
``[:height, :width]`` (coarse windows are padded, never stretched). The decoder's
low-resolution logits are 256 x 256 over the whole frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sam2.utils.amg import batched_mask_to_box, calculate_stability_score

from annotator.sam2.features import WindowFeatures
from annotator.sam2.registry import LoadedModel
from annotator.sam2.scores import candidate_disagreements
from annotator.sam2.windows import WINDOW_SIZE

# SAM2's crop-edge tolerance (``is_box_near_crop_edge``'s atol), window pixels.
EDGE_ATOL_PX = 20.0
# Masks upsampled at once for the stability score: 16 x 1024 x 1024 float32 = 64 MiB.
UPSAMPLE_CHUNK = 16


@dataclass(frozen=True)
class FilterParams:
    """SAM2AutomaticMaskGenerator's filter parameters (same names, same defaults)."""

    points_per_batch: int = 64
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    box_nms_thresh: float = 0.7
    use_m2m: bool = False


@dataclass
class WindowMasks:
    """The masks one window keeps, best predicted IoU first.

    Attributes:
        points: [K, 2] the point prompt of each mask, window pixels (x, y).
        low_res: [K, 256, 256] float16 logits (clamped to ±32 as SAM2's predictor does).
        predicted_iou, stability: [K] the decoder's IoU prediction and SAM2's stability score.
        boxes: [K, 4] x0, y0, x1, y1 of the thresholded mask, window pixels (inclusive, SAM2's).
        area_px: [K] pixels of the thresholded mask inside the window's valid part (window pixels).
        disagreement: [K] 1 - the mean IoU of the mask with its point's other candidates, on the
            256 x 256 logits > 0 (the click path's ``candidate_disagreement``; NaN with one candidate).
        decoded_points: how many points were decoded (before any filter).
    """

    points: np.ndarray
    low_res: np.ndarray
    predicted_iou: np.ndarray
    stability: np.ndarray
    boxes: np.ndarray
    area_px: np.ndarray
    disagreement: np.ndarray
    decoded_points: int

    def __len__(self) -> int:
        return len(self.points)


@torch.inference_mode()
def decode_points(
    loaded: LoadedModel,
    feats: WindowFeatures,
    points: np.ndarray,
    mask_input: torch.Tensor | None = None,
    multimask: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One positive point per prompt through the prompt encoder and mask decoder, as ``SAM2ImagePredictor._predict``.

    Args:
        points: [B, 2] window pixels (x, y) of the 1024 frame.
        mask_input: [B, 1, 256, 256] previous low-resolution logits, or None.
        multimask: three masks per point (True) or one.
    Returns:
        low-resolution logits [B, C, 256, 256] (not clamped) and predicted IoUs [B, C].
    """
    model = loaded.model
    device = loaded.device
    scale = model.image_size / WINDOW_SIZE
    coords = torch.as_tensor(points, dtype=torch.float32, device=device)[:, None, :] * scale
    labels = torch.ones((len(points), 1), dtype=torch.int32, device=device)
    sparse, dense = model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=mask_input)
    low_res, iou, _, _ = model.sam_mask_decoder(
        image_embeddings=feats.image_embed,
        image_pe=model.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=multimask,
        repeat_image=len(points) > 1,
        high_res_features=feats.high_res_feats,
    )
    return low_res, iou


def upsample(low_res: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Logits [N, 256, 256] → [N, height, width] float logits in window pixels (bilinear to 1024, cropped)."""
    full = F.interpolate(low_res[:, None].float(), (WINDOW_SIZE, WINDOW_SIZE), mode="bilinear", align_corners=False)
    return full[:, 0, :height, :width]


def _stability_boxes_areas(
    low_res: torch.Tensor, width: int, height: int, params: FilterParams
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stability scores [N], boxes [N, 4] and areas [N] of the masks, a chunk of upsampled masks at a time."""
    stability, boxes, areas = [], [], []
    for start in range(0, len(low_res), UPSAMPLE_CHUNK):
        logits = upsample(low_res[start : start + UPSAMPLE_CHUNK], width, height)
        stability.append(calculate_stability_score(logits, params.mask_threshold, params.stability_score_offset))
        masks = logits > params.mask_threshold
        boxes.append(batched_mask_to_box(masks))
        areas.append(masks.sum(dim=(-1, -2)))
    if not stability:
        device = low_res.device
        return torch.zeros(0, device=device), torch.zeros((0, 4), device=device), torch.zeros(0, device=device)
    return torch.cat(stability), torch.cat(boxes), torch.cat(areas)


@torch.inference_mode()
def filter_window(
    loaded: LoadedModel,
    feats: WindowFeatures,
    points: np.ndarray,
    width: int,
    height: int,
    params: FilterParams,
    multimask: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> WindowMasks:
    """Decode ``points`` in batches, filter as SAM2's generator, NMS within the window.

    Args:
        points: [N, 2] window pixels (x, y), one positive point prompt each.
        width, height: the window's valid size (window pixels).
        on_batch: called with the number of points of each decoded batch.
    """
    kept: dict[str, list] = {k: [] for k in ("points", "low_res", "iou", "stability", "boxes", "areas", "spread")}
    for start in range(0, len(points), params.points_per_batch):
        batch = points[start : start + params.points_per_batch]
        low_res, iou = decode_points(loaded, feats, batch, multimask=multimask)
        count = low_res.shape[1]
        spread = candidate_disagreements(low_res, width, height).flatten()
        low_res = low_res.flatten(0, 1)
        iou = iou.flatten(0, 1)
        pts = torch.as_tensor(batch, dtype=torch.float64, device=low_res.device).repeat_interleave(count, dim=0)
        if params.use_m2m:
            # SAM2's refine_with_m2m: each mask's own point again, with its clamped logits as mask input.
            refined, refined_iou = [], []
            clamped = torch.clamp(low_res, -32.0, 32.0)
            for m in range(0, len(pts), params.points_per_batch):
                r, s = decode_points(
                    loaded,
                    feats,
                    pts[m : m + params.points_per_batch].cpu().numpy(),
                    mask_input=clamped[m : m + params.points_per_batch, None],
                    multimask=False,
                )
                refined.append(r[:, 0])
                refined_iou.append(s[:, 0])
            low_res, iou = torch.cat(refined), torch.cat(refined_iou)
        keep = iou > params.pred_iou_thresh if params.pred_iou_thresh > 0.0 else torch.ones_like(iou, dtype=torch.bool)
        low_res, iou, pts, spread = low_res[keep], iou[keep], pts[keep], spread[keep]
        stability, boxes, areas = _stability_boxes_areas(low_res, width, height, params)
        keep = (
            stability >= params.stability_score_thresh
            if params.stability_score_thresh > 0.0
            else torch.ones_like(stability, dtype=torch.bool)
        )
        kept["points"].append(pts[keep])
        kept["low_res"].append(torch.clamp(low_res[keep], -32.0, 32.0).to(torch.float16))
        kept["iou"].append(iou[keep].float())
        kept["stability"].append(stability[keep].float())
        kept["boxes"].append(boxes[keep])
        kept["areas"].append(areas[keep])
        kept["spread"].append(spread[keep].float())
        if on_batch is not None:
            on_batch(len(batch))
    if not kept["points"]:
        return _empty(0)
    cat = {k: torch.cat(v) for k, v in kept.items()}
    if len(cat["points"]) == 0:
        return _empty(len(points))
    # Imported here: torchvision's ops pull in torch._dynamo and triton (~160 MiB resident),
    # and every web process imports this module for the drafts parameters.
    from torchvision.ops.boxes import batched_nms

    order = batched_nms(
        cat["boxes"].float(),
        cat["iou"],
        torch.zeros(len(cat["boxes"]), dtype=torch.int64, device=cat["boxes"].device),
        params.box_nms_thresh,
    )
    return WindowMasks(
        points=cat["points"][order].cpu().numpy(),
        low_res=cat["low_res"][order].cpu().numpy(),
        predicted_iou=cat["iou"][order].cpu().numpy(),
        stability=cat["stability"][order].cpu().numpy(),
        boxes=cat["boxes"][order].cpu().numpy(),
        area_px=cat["areas"][order].cpu().numpy(),
        disagreement=cat["spread"][order].cpu().numpy(),
        decoded_points=len(points),
    )


def _empty(decoded: int) -> WindowMasks:
    return WindowMasks(
        points=np.zeros((0, 2)),
        low_res=np.zeros((0, 256, 256), dtype=np.float16),
        predicted_iou=np.zeros(0, dtype=np.float32),
        stability=np.zeros(0, dtype=np.float32),
        boxes=np.zeros((0, 4)),
        area_px=np.zeros(0),
        disagreement=np.zeros(0, dtype=np.float32),
        decoded_points=decoded,
    )


def near_cut_edges(
    boxes: np.ndarray, width: int, height: int, cut_edges: tuple[bool, bool, bool, bool], atol: float = EDGE_ATOL_PX
) -> np.ndarray:
    """SAM2's crop-edge rule on a window: whether each box lies within ``atol`` of a cut edge.

    Args:
        boxes: [K, 4] x0, y0, x1, y1 window pixels (SAM2's inclusive boxes).
        width, height: the window's valid size.
        cut_edges: left, top, right, bottom: whether that edge cuts through the image.
    Returns:
        bool [K].
    """
    if not len(boxes):
        return np.zeros(0, dtype=bool)
    left, top, right, bottom = cut_edges
    b = np.asarray(boxes, dtype=np.float64)
    near = np.zeros(len(b), dtype=bool)
    if left:
        near |= np.abs(b[:, 0] - 0.0) <= atol
    if top:
        near |= np.abs(b[:, 1] - 0.0) <= atol
    if right:
        near |= np.abs(b[:, 2] - width) <= atol
    if bottom:
        near |= np.abs(b[:, 3] - height) <= atol
    return near
