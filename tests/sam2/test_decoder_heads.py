"""The web process's decoder (prompt encoder + mask decoder alone) has the full model's weights.

Both loaders are checked on the two sources of weights: the seeded untrained model, and a
checkpoint file written from it in SAM2's format (``{"model": state_dict}``), which the
light loader reads without the image encoder's tensors.
"""

from __future__ import annotations

import pytest
import torch

from annotator.sam2 import decoder, features
from annotator.sam2 import registry as sam2_models
from tests.support.sam2 import TINY

pytestmark = pytest.mark.sam2


@pytest.fixture
def untrained(settings):
    settings.SAM2_ALLOW_UNTRAINED = True
    return settings


def head_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in module.state_dict().items() if k.startswith(("sam_prompt_encoder.", "sam_mask_decoder."))}


def assert_same_weights(light: torch.nn.Module, full: torch.nn.Module) -> None:
    light_state, full_state = head_state(light), head_state(full)
    assert light_state.keys() == full_state.keys() and len(light_state) > 50
    for name, tensor in full_state.items():
        assert torch.equal(light_state[name], tensor), name


def decode_both(light: torch.nn.Module, full: torch.nn.Module):
    generator = torch.Generator().manual_seed(3)
    window = features.to_decoder_inputs(
        {n: torch.randn(s, generator=generator).to(torch.float16) for n, s in features.FEATURE_SHAPES.items()}
    )
    points = (torch.tensor([[[300.0, 420.0], [610.5, 200.25]]]), torch.tensor([[1, 0]], dtype=torch.int32))
    results = []
    for model in (light, full):
        with torch.inference_mode():
            sparse, dense = model.sam_prompt_encoder(points=points, boxes=None, masks=None)
        results.append(decoder.decode(model, window.image_embed, window.high_res_feats, sparse, dense, True))
    return results


def test_the_untrained_decoder_alone_has_the_full_models_weights_and_outputs(untrained):
    light = sam2_models.load_decoder(TINY)
    full = sam2_models.load_model(TINY)
    assert isinstance(light.model, sam2_models.DecoderHeads)
    assert not hasattr(light.model, "image_encoder")
    assert (light.checkpoint_digest, light.untrained) == (full.checkpoint_digest, full.untrained)
    assert_same_weights(light.model, full.model)
    (light_masks, light_scores), (full_masks, full_scores) = decode_both(light.model, full.model)
    assert torch.equal(light_masks, full_masks) and torch.equal(light_scores, full_scores)


@pytest.fixture
def forget_models_built_from(tmp_path):
    """Drop the models loaded from ``tmp_path``'s checkpoint from the per-process cache afterwards."""
    yield tmp_path
    for key in [key for key in sam2_models._cache if key[3].startswith(str(tmp_path))]:
        del sam2_models._cache[key]


def test_the_decoder_alone_reads_the_checkpoints_head_weights(untrained, forget_models_built_from):
    tmp_path = forget_models_built_from
    source = sam2_models.load_model(TINY).model
    # A checkpoint unlike the untrained weights, so that reading it is visible.
    state = {k: v + 0.25 if v.is_floating_point() else v for k, v in source.state_dict().items()}
    spec = sam2_models.get_spec(TINY)
    torch.save({"model": state}, tmp_path / spec.checkpoint_file)
    untrained.SAM2_CHECKPOINT_DIR = str(tmp_path)
    untrained.SAM2_ALLOW_UNTRAINED = False

    light = sam2_models.load_decoder(TINY)
    full = sam2_models.load_model(TINY)
    assert not light.untrained and light.checkpoint_digest == full.checkpoint_digest
    assert_same_weights(light.model, full.model)
    assert torch.equal(light.model.sam_mask_decoder.iou_token.weight, state["sam_mask_decoder.iou_token.weight"])
    (light_masks, _), (full_masks, _) = decode_both(light.model, full.model)
    assert torch.equal(light_masks, full_masks)


def test_without_checkpoint_or_untrained_weights_the_decoder_says_how_to_get_one(settings, tmp_path):
    settings.SAM2_CHECKPOINT_DIR = str(tmp_path)
    settings.SAM2_ALLOW_UNTRAINED = False
    with pytest.raises(sam2_models.CheckpointMissing, match="download_checkpoint"):
        sam2_models.load_decoder(TINY)
