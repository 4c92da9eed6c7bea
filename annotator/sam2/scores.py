"""Scores of the decoder's candidate masks that need no database: pure tensor arithmetic.

Logits are SAM2's low-resolution ones, [.., 256, 256] over a window's whole 1024 x 1024
frame (one cell = 4 window pixels); a window's valid part is its top-left ``width`` x
``height`` window pixels, the cells ``[:ceil(height / 4), :ceil(width / 4)]``.
"""

from __future__ import annotations

import numpy as np
import torch

from annotator.sam2.windows import LOW_RES, WINDOW_SIZE


def candidate_disagreements(low_res: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """1 - the mean IoU of each candidate mask with the other candidates of its prompt.

    Args:
        low_res: [B, C, 256, 256] logits (masks are logits > 0), on any device.
        width, height: the window's valid size (window pixels).
    Returns:
        float64 [B, C] on ``low_res``'s device; NaN where a prompt has one candidate. Two
        empty masks count as IoU 1.
    """
    batch, count = low_res.shape[:2]
    if count < 2:
        return torch.full((batch, count), float("nan"), dtype=torch.float64, device=low_res.device)
    step = WINDOW_SIZE // LOW_RES
    masks = (low_res[:, :, : -(-height // step), : -(-width // step)] > 0).flatten(2).float()
    # [B, C, C] pixel counts (exact in float32 up to 2**24), then the ratios in float64.
    inter = torch.bmm(masks, masks.transpose(1, 2)).double()
    area = torch.diagonal(inter, dim1=1, dim2=2)
    union = area[:, :, None] + area[:, None, :] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
    others = iou.sum(dim=2) - torch.diagonal(iou, dim1=1, dim2=2)
    return 1.0 - others / (count - 1)


def candidate_disagreement(low_res: np.ndarray, best: int, width: int, height: int) -> float | None:
    """:func:`candidate_disagreements` of candidate ``best`` of one prompt's [C, 256, 256] logits.

    Rounded to 6 decimals; None with a single candidate.
    """
    if len(low_res) < 2:
        return None
    values = candidate_disagreements(torch.as_tensor(np.asarray(low_res))[None], width, height)
    return round(float(values[0, best]), 6)
