"""SAM2's mask decoder for one window, with its output upscaling computed as matrix products.

``MaskDecoder.predict_masks`` ends with two ``ConvTranspose2d`` layers of kernel 2 and
stride 2 (64² → 128² → 256² pixels), a ``LayerNorm2d`` and two GELUs, all in NCHW. On a
CPU that tail costs more than the two-way transformer before it: the transposed
convolutions go through a slow generic kernel, and ``LayerNorm2d`` is five passes over
memory. A stride-2, kernel-2 transposed convolution writes each input pixel's own 2 x 2
block, so it is exactly one matrix product ``[H·W, C_in] @ [C_in, 2·2·C_out]`` followed
by a reshuffle of the output; in channels-last layout the reshuffle folds into the
addition of the high-resolution features and the layer norm becomes one fused
``F.layer_norm``. Everything else (the two-way transformer, the hypernetwork MLPs, the
IoU head, the single/multi mask choice) is SAM2's own modules, called as they are. The
weights are the model's; tests check the result against ``MaskDecoder.forward``.

The high-resolution features must be channels-last tensors (``features.to_decoder_inputs``
makes them so) for the per-call work to avoid copies. Models whose upscaling does not have
that shape are decoded by ``MaskDecoder.forward`` itself.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from annotator.sam2 import two_way
from annotator.sam2.features import WindowFeatures


@dataclass(frozen=True)
class _Upscaling:
    """The upscaling layers' weights as matrices, and the model's dense positional encoding."""

    w1: torch.Tensor  # [C0, 4 * C1], columns ordered (ki, kj, c1)
    b1: torch.Tensor  # [4 * C1]
    c1: int
    norm: nn.Module
    act1: nn.Module
    w2: torch.Tensor  # [C1, 4 * C2], columns ordered (ki, kj, c2)
    b2: torch.Tensor  # [4 * C2]
    c2: int
    act2: nn.Module
    dense_pe: torch.Tensor  # [1, C0, 64, 64]


_prepared: weakref.WeakKeyDictionary[nn.Module, _Upscaling | None] = weakref.WeakKeyDictionary()
_prepared_lock = threading.Lock()


def _is_2x2_stride_2(layer: nn.Module) -> bool:
    return (
        isinstance(layer, nn.ConvTranspose2d)
        and tuple(layer.kernel_size) == (2, 2)
        and tuple(layer.stride) == (2, 2)
        and tuple(layer.padding) == (0, 0)
        and tuple(layer.output_padding) == (0, 0)
        and tuple(layer.dilation) == (1, 1)
        and layer.groups == 1
        and layer.bias is not None
    )


def _as_matrix(layer: nn.ConvTranspose2d) -> tuple[torch.Tensor, torch.Tensor]:
    # ConvTranspose2d weight is [C_in, C_out, kH, kW]: out[o, 2h+i, 2w+j] = Σ_c x[c, h, w] W[c, o, i, j] + b[o].
    weight = layer.weight.detach()
    c_in, c_out = weight.shape[:2]
    matrix = weight.permute(0, 2, 3, 1).reshape(c_in, 4 * c_out).contiguous()
    return matrix, layer.bias.detach().repeat(4).contiguous()


def prepare(model: nn.Module) -> _Upscaling | None:
    """The upscaling matrices of ``model`` (built once per model and kept), or None if it cannot use them."""
    with _prepared_lock:
        if model in _prepared:
            return _prepared[model]
        decoder = model.sam_mask_decoder
        up = None
        layers = list(decoder.output_upscaling) if decoder.use_high_res_features else []
        if len(layers) == 5 and _is_2x2_stride_2(layers[0]) and _is_2x2_stride_2(layers[3]):
            dc1, norm, act1, dc2, act2 = layers
            w1, b1 = _as_matrix(dc1)
            w2, b2 = _as_matrix(dc2)
            with torch.inference_mode():
                dense_pe = model.sam_prompt_encoder.get_dense_pe().detach().clone()
            up = _Upscaling(w1, b1, dc1.out_channels, norm, act1, w2, b2, dc2.out_channels, act2, dense_pe)
        _prepared[model] = up
        return up


def _layer_norm_last(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """SAM2's ``LayerNorm2d`` (over channels, biased variance) on a channels-last tensor."""
    return F.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, norm.eps)


def _upscale_block(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, c_out: int, skip: torch.Tensor
) -> torch.Tensor:
    """A 2 x 2, stride-2 transposed convolution of ``x`` [H, W, C_in] plus ``skip`` [2H, 2W, C_out].

    Returns [2H, 2W, C_out], channels-last and contiguous.
    """
    h, w, c_in = x.shape
    y = torch.addmm(bias, x.reshape(h * w, c_in), weight).view(h, w, 2, 2, c_out).permute(0, 2, 1, 3, 4)
    out = torch.empty((2 * h, 2 * w, c_out), dtype=y.dtype, device=y.device)
    torch.add(y, skip.reshape(h, 2, w, 2, c_out), out=out.view(h, 2, w, 2, c_out))
    return out


# Rows of the 64 x 64 transformer output per slice of the upscaling: a slice's intermediates
# (16 rows x 128 px x 64 channels, then 32 rows x 256 px x 32 channels: 0.5 + 1 MiB in fp32)
# stay in the CPU's cache from the first product through both layer norms and GELUs to the
# masks, instead of eight passes over 4 and 8 MiB images in memory.
_SLICE_ROWS = 8


def _upscale_to_masks(
    src: torch.Tensor, up: _Upscaling, feat_s1: torch.Tensor, feat_s0: torch.Tensor, hyper_in: torch.Tensor
) -> torch.Tensor:
    """Masks ``hyper_in @ act2(dc2(act1(ln(dc1(src) + feat_s1))) + feat_s0)`` in slices of rows.

    Args:
        src: [H, W, C0] the transformer's image output, channels-last.
        feat_s1: [2H, 2W, C1]; feat_s0: [4H, 4W, C2], channels-last views of the high-resolution features.
        hyper_in: [M, C2] the mask tokens' hypernetwork outputs.
    Returns:
        [M, 4H, 4W] mask logits.
    """
    h, w, _ = src.shape
    masks = torch.empty((4 * h, 4 * w, hyper_in.shape[0]), dtype=src.dtype, device=src.device)
    weights = hyper_in.T
    for row in range(0, h, _SLICE_ROWS):
        end = min(h, row + _SLICE_ROWS)
        x = _upscale_block(src[row:end], up.w1, up.b1, up.c1, feat_s1[2 * row : 2 * end])
        x = up.act1(_layer_norm_last(up.norm, x))
        x = up.act2(_upscale_block(x, up.w2, up.b2, up.c2, feat_s0[4 * row : 4 * end]))
        torch.mm(x.view(-1, up.c2), weights, out=masks[4 * row : 4 * end].view(-1, weights.shape[1]))
    return masks.permute(2, 0, 1)


@torch.inference_mode()
def decode(
    model: nn.Module,
    image_embed: torch.Tensor,
    high_res_feats: list[torch.Tensor],
    sparse: torch.Tensor,
    dense: torch.Tensor,
    multimask_output: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``model.sam_mask_decoder`` on one window: low-resolution logits [1, C, 256, 256] and IoU scores [1, C].

    Args:
        image_embed: [1, 256, 64, 64].
        high_res_feats: [[1, 32, 256, 256], [1, 64, 128, 128]], channels-last memory format.
        sparse, dense: the prompt encoder's embeddings for this window's prompts.
        multimask_output: three masks (True) or one (False), as ``MaskDecoder.forward``.
    """
    return decode_windows(model, [WindowFeatures(image_embed, high_res_feats)], sparse, [dense], multimask_output)


@torch.inference_mode()
def decode_windows(
    model: nn.Module,
    windows: list[WindowFeatures],
    sparse: torch.Tensor,
    dense: list[torch.Tensor],
    multimask_output: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``model.sam_mask_decoder`` on B windows in one pass: logits [B, C, 256, 256] and IoU scores [B, C].

    Window i is decoded with the prompts of row i; the windows may belong to different images.

    Args:
        windows: B windows' features (each with batch dimension 1, high-resolution ones channels-last).
        sparse: [B, T, 256], the prompt encoder's sparse embeddings, the same number T for every window.
        dense: B tensors [1, 256, 64, 64], the dense embeddings (the no-mask embedding or a previous mask's).
        multimask_output: three masks (True) or one (False), as ``MaskDecoder.forward``.
    """
    decoder = model.sam_mask_decoder
    up = prepare(model)
    first = 1 if decoder.pred_obj_scores else 0
    learned = [decoder.obj_score_token.weight] if first else []
    output_tokens = torch.cat([*learned, decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    batch = len(windows)
    tokens = torch.cat((output_tokens[None].expand(batch, -1, -1), sparse), dim=1)
    if up is None or not two_way.regrouped(decoder.transformer, tokens.shape[1]):
        masks, scores, _, _ = decoder(
            image_embeddings=torch.cat([w.image_embed for w in windows]),
            image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=torch.cat(dense),
            multimask_output=multimask_output,
            repeat_image=False,
            high_res_features=[torch.cat([w.high_res_feats[i] for w in windows]) for i in range(2)],
        )
        return masks, scores

    _, c, h, w = windows[0].image_embed.shape
    # The image tokens [B, H·W, C]: each window's embedding plus its dense prompt, laid out
    # channels-last in the same pass (the products would each copy a channels-first one).
    keys = torch.empty((batch, h * w, c), dtype=windows[0].image_embed.dtype, device=windows[0].image_embed.device)
    for i, (window, window_dense) in enumerate(zip(windows, dense, strict=True)):
        torch.add(window.image_embed[0].flatten(1).T, window_dense[0].flatten(1).T, out=keys[i])
    hs, src = two_way.forward(decoder.transformer, keys, up.dense_pe, tokens)
    iou_token_out = hs[:, first, :]
    mask_tokens_out = hs[:, first + 1 : first + 1 + decoder.num_mask_tokens, :]
    hyper_in = torch.stack(
        [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], dim=1
    )
    masks = []
    for i, window in enumerate(windows):
        # The transformer's image output [H·W, C] is already channels-last.
        feat_s0, feat_s1 = (f[0].permute(1, 2, 0) for f in window.high_res_feats)
        masks.append(_upscale_to_masks(src[i].view(h, w, -1), up, feat_s1, feat_s0, hyper_in[i]))
    masks = torch.stack(masks)
    scores = decoder.iou_prediction_head(iou_token_out)

    # MaskDecoder.forward's choice between the single-mask token and the three others.
    if multimask_output:
        return masks[:, 1:], scores[:, 1:]
    if decoder.dynamic_multimask_via_stability and not decoder.training:
        return decoder._dynamic_multimask_via_stability(masks, scores)
    return masks[:, 0:1], scores[:, 0:1]
