"""SAM2's two-way transformer (the mask decoder's attention) with the image side's products regrouped.

``TwoWayTransformer`` attends between a few prompt tokens (T ≈ 8 for a click) and the
window's N = 64 x 64 image tokens of C = 256 channels, through attention layers whose
heads (H = 8) have dh = 16 channels. SAM2 projects every image token to keys, values and
queries (``[N, C] @ [C, 128]`` each) before attending to or from the T tokens; on a CPU
those projections are most of a click's time. The products can be grouped the other way
round, since an attention only ever needs them multiplied by the T prompt tokens' vectors:

- token → image: ``q·k = q·(Wk x + bk + Wk pe) = (Wk^T q)·x + q·(Wk pe + bk)``, and the
  values' weighted sum ``Σ p (Wv x + bv) = Wv (Σ p x) + bv`` (each softmax row sums to 1):
  two ``[H·T, C] x [C, N]`` products instead of two ``[N, C] x [C, 128]`` ones;
- image → token: ``q·k = x·(Wq^T k) + (Wq pe + bq)·k`` and the output projection of the
  heads' mix ``Wo Σ_h p_h v_h = Σ_h p_h (Wo_h v_h)``: two ``[N, C] x [C, H·T]`` products
  instead of the query and output projections (``[N, C] x [C, 128]``, ``[N, 128] x [128, C]``).

The positional encoding is the same for every window, so its projections are computed
once per model. For a click (T = 8, H·T = 64) this halves the transformer's multiply-adds;
with many prompts (H·T > 128) it would cost more, so :func:`regrouped` says whether to use it.
The weights are SAM2's own modules' (``q_proj``, ``k_proj``, …, ``norm*``, ``mlp``), read
at each call; tests check the result against ``MaskDecoder.forward`` to 1e-4.

Batched: B windows (each with its own T tokens, the same T for all) in one pass.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass

import torch
from torch import nn

# Above this many head-token rows (H·T) the regrouped products cost more than SAM2's.
MAX_HEAD_TOKENS = 128


@dataclass(frozen=True)
class _PeProjections:
    """The model's image positional encoding through each attention's key or query projection."""

    token_to_image: list[torch.Tensor]  # per t2i attention (layers', then the final one): [H, dh, N]
    image_to_token: list[torch.Tensor]  # per layer's i2t attention: [H, N, dh]


_constants: weakref.WeakKeyDictionary[nn.Module, _PeProjections] = weakref.WeakKeyDictionary()
_constants_lock = threading.Lock()


def _heads(attn: nn.Module) -> tuple[int, int]:
    return attn.num_heads, attn.internal_dim // attn.num_heads


def _pe_projections(transformer: nn.Module, image_pe: torch.Tensor) -> _PeProjections:
    """``Wk pe + bk`` of every token → image attention and ``Wq pe + bq`` of every image → token one (per model)."""
    with _constants_lock:
        found = _constants.get(transformer)
        if found is not None:
            return found
        pe = image_pe.flatten(2)[0].T.contiguous()  # [N, C]
        t2i, i2t = [], []
        with torch.inference_mode():
            for attn in [*(layer.cross_attn_token_to_image for layer in transformer.layers),
                         transformer.final_attn_token_to_image]:  # fmt: skip
                h, dh = _heads(attn)
                t2i.append(attn.k_proj(pe).T.reshape(h, dh, -1).contiguous())
            for layer in transformer.layers:
                attn = layer.cross_attn_image_to_token
                h, dh = _heads(attn)
                i2t.append(attn.q_proj(pe).reshape(-1, h, dh).permute(1, 0, 2).contiguous())
        found = _PeProjections(t2i, i2t)
        _constants[transformer] = found
        return found


def regrouped(transformer: nn.Module, tokens: int) -> bool:
    """Whether the regrouped products are the cheaper way for ``tokens`` prompt tokens on this transformer."""
    attn = transformer.final_attn_token_to_image
    return (
        attn.num_heads * tokens <= MAX_HEAD_TOKENS
        and attn.kv_in_dim == attn.embedding_dim
        and all(not layer.training for layer in transformer.layers)
    )


def _token_to_image(attn: nn.Module, q_in: torch.Tensor, keys: torch.Tensor, kc: torch.Tensor) -> torch.Tensor:
    """``attn(q=q_in, k=keys + pe, v=keys)`` for tokens ``q_in`` [B, T, C] and image tokens ``keys`` [B, N, C]."""
    b, t, c = q_in.shape
    h, dh = _heads(attn)
    q = (attn.q_proj(q_in) * (1.0 / math.sqrt(dh))).view(b, t, h, dh).transpose(1, 2)  # [B, H, T, dh]
    # Wk^T q per head, in the image tokens' channel space: [B, H, T, C].
    q_in_keys = q @ attn.k_proj.weight.view(h, dh, c)
    scores = (q_in_keys.reshape(b, h * t, c) @ keys.transpose(1, 2)).view(b, h, t, -1)
    scores += q @ kc  # [B, H, T, N]
    weights = scores.softmax(dim=-1)
    mixed = (weights.view(b, h * t, -1) @ keys).view(b, h, t, c)  # Σ p x per head
    values = mixed @ attn.v_proj.weight.view(h, dh, c).transpose(1, 2) + attn.v_proj.bias.view(h, 1, dh)
    return attn.out_proj(values.transpose(1, 2).reshape(b, t, h * dh))


def _image_to_token(
    attn: nn.Module, keys: torch.Tensor, qc: torch.Tensor, k_in: torch.Tensor, v_in: torch.Tensor
) -> torch.Tensor:
    """``attn(q=keys + pe, k=k_in, v=v_in)``: image tokens ``keys`` [B, N, C] attend to tokens [B, T, C]."""
    b, n, c = keys.shape
    t = k_in.shape[1]
    h, dh = _heads(attn)
    k = (attn.k_proj(k_in) * (1.0 / math.sqrt(dh))).view(b, t, h, dh).permute(0, 2, 3, 1)  # [B, H, dh, T]
    # Wq^T k per head: [B, C, H·T].
    k_in_keys = (attn.q_proj.weight.view(h, dh, c).transpose(1, 2) @ k).permute(0, 2, 1, 3).reshape(b, c, h * t)
    # Scores laid out [B, H, T, N]: the softmax over the T tokens then runs along the image
    # axis (N = 4,096 contiguous values per token), about 20x faster on a CPU than a softmax
    # over a last axis of T ≈ 7, which was a tenth of a click's decoder time.
    scores = (k_in_keys.transpose(1, 2) @ keys.transpose(1, 2)).view(b, h, t, n)
    scores += k.transpose(2, 3) @ qc.transpose(1, 2)  # [B, H, T, dh] @ [H, dh, N]
    weights = scores.softmax(dim=2).view(b, h * t, n)
    v = attn.v_proj(v_in).view(b, t, h, dh).transpose(1, 2)  # [B, H, T, dh]
    # Each head's values through its slice of the output projection: [B, H·T, C].
    projected = (v @ attn.out_proj.weight.T.reshape(h, dh, c)).reshape(b, h * t, c)
    return torch.baddbmm(attn.out_proj.bias.expand(b, 1, c), weights.transpose(1, 2), projected)


def forward(
    transformer: nn.Module, keys: torch.Tensor, image_pe: torch.Tensor, point_embedding: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``TwoWayTransformer.forward`` with the regrouped products: (queries [B, T, C], keys [B, N, C]).

    Args:
        keys: [B, N, C], the windows' image tokens (image embedding plus dense prompt embedding, channels-last).
        image_pe: [1, C, h, w], the prompt encoder's dense positional encoding (the same for every window).
        point_embedding: [B, T, C], the output tokens and the sparse prompt embeddings.
    """
    pe = _pe_projections(transformer, image_pe)
    queries = point_embedding
    for i, layer in enumerate(transformer.layers):
        if layer.skip_first_layer_pe:
            queries = layer.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + point_embedding
            queries = queries + layer.self_attn(q=q, k=q, v=queries)
        queries = layer.norm1(queries)
        attn_out = _token_to_image(
            layer.cross_attn_token_to_image, queries + point_embedding, keys, pe.token_to_image[i]
        )
        queries = layer.norm2(queries + attn_out)
        queries = layer.norm3(queries + layer.mlp(queries))
        attn_out = _image_to_token(
            layer.cross_attn_image_to_token, keys, pe.image_to_token[i], queries + point_embedding, queries
        )
        keys = layer.norm4(attn_out + keys)
    attn_out = _token_to_image(
        transformer.final_attn_token_to_image, queries + point_embedding, keys, pe.token_to_image[-1]
    )
    queries = transformer.norm_final_attn(queries + attn_out)
    return queries, keys
