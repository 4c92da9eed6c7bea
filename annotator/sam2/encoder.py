"""The SAM2 image encoder on uint8 RGB windows, as ``SAM2ImagePredictor.set_image`` runs it.

No database and no files: :mod:`encoding` reads the windows and stores what this returns,
and the GPU benchmark (bench/gpu.py) calls it on machines that have only torch and SAM2.
Windows are 1024 x 1024 window pixels; the features' shapes are in :func:`encode_batch`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from annotator.sam2.registry import LoadedModel

# SAM2's backbone feature map sizes, finest first (as in SAM2ImagePredictor).
BACKBONE_FEAT_SIZES = [(256, 256), (128, 128), (64, 64)]

_transforms: dict[int, object] = {}


def sam2_transforms(resolution: int):
    """SAM2's own input transforms (to [0, 1], resize to the model size, ImageNet normalisation)."""
    if resolution not in _transforms:
        from sam2.utils.transforms import SAM2Transforms

        _transforms[resolution] = SAM2Transforms(resolution=resolution, mask_threshold=0.0)
    return _transforms[resolution]


# Image-encoder forward passes made by this process (:func:`encode_batch` is the only way
# in): drafts runs record how many happened while they ran, which must be none.
_encoder_calls = 0


def encoder_call_count() -> int:
    """Image-encoder forward passes made by this process so far."""
    return _encoder_calls


@torch.inference_mode()
def encode_batch(loaded: LoadedModel, windows_rgb: list[np.ndarray]) -> list[dict[str, torch.Tensor]]:
    """Run the SAM2 image encoder on uint8 RGB windows [1024, 1024, 3].

    On CUDA the encoder runs under bf16 autocast. Returns, per window, the tensors named in
    :data:`FEATURE_NAMES` (float, batch dimension dropped): ``image_embed`` [256, 64, 64],
    ``high_res_feats_0`` [32, 256, 256], ``high_res_feats_1`` [64, 128, 128].
    """
    global _encoder_calls
    _encoder_calls += 1
    model = loaded.model
    batch = sam2_transforms(model.image_size).forward_batch(windows_rgb).to(loaded.device)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if loaded.device.type == "cuda" else contextlib.nullcontext()
    )
    with autocast:
        backbone_out = model.forward_image(batch)
        _, vision_feats, _, _ = model._prepare_backbone_features(backbone_out)
        if model.directly_add_no_mem_embed:
            vision_feats[-1] = vision_feats[-1] + model.no_mem_embed
    size = batch.shape[0]
    feats = [
        feat.permute(1, 2, 0).reshape(size, -1, *feat_size)
        for feat, feat_size in zip(vision_feats[::-1], BACKBONE_FEAT_SIZES[::-1], strict=True)
    ][::-1]
    return [
        {"image_embed": feats[2][i], "high_res_feats_0": feats[0][i], "high_res_feats_1": feats[1][i]}
        for i in range(size)
    ]
