"""The fast mask decoder (matrix-product upscaling) gives SAM2's own ``MaskDecoder.forward`` results.

A pure-function check: seeded random window features and the untrained, seeded tiny model;
every prompt kind and output mode that the segment endpoint uses.
"""

from __future__ import annotations

import pytest
import torch

from annotator.sam2 import decoder, features
from tests.support.sam2 import tiny_model

pytestmark = pytest.mark.sam2


@pytest.fixture(scope="module")
def window():
    generator = torch.Generator().manual_seed(5)
    stored = {
        name: torch.randn(shape, generator=generator).to(torch.float16)
        for name, shape in features.FEATURE_SHAPES.items()
    }
    return features.to_decoder_inputs(stored)


def prompt_embeddings(model, points, labels, mask_input=None):
    coords = torch.tensor([points], dtype=torch.float32)
    point_labels = torch.tensor([labels], dtype=torch.int32)
    with torch.inference_mode():
        return model.sam_prompt_encoder(points=(coords, point_labels), boxes=None, masks=mask_input)


def stock(model, window, sparse, dense, multimask):
    with torch.inference_mode():
        masks, scores, _, _ = model.sam_mask_decoder(
            image_embeddings=window.image_embed,
            image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=False,
            high_res_features=window.high_res_feats,
        )
    return masks, scores


PROMPTS = {
    "one positive point": ([[412.3, 305.8]], [1]),
    "positive and negative points": ([[412.3, 305.8], [500.0, 310.5], [380.25, 200.75]], [1, 0, 1]),
    "a box": ([[300.0, 200.0], [620.0, 540.0]], [2, 3]),
    "a box and a negative point": ([[300.0, 200.0], [620.0, 540.0], [450.0, 400.0]], [2, 3, 0]),
}


@pytest.mark.parametrize("multimask", [True, False], ids=["three masks", "one mask"])
@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_the_fast_decoder_equals_sam2s_mask_decoder(window, prompt, multimask):
    model = tiny_model().model
    sparse, dense = prompt_embeddings(model, *PROMPTS[prompt])
    expected_masks, expected_scores = stock(model, window, sparse, dense, multimask)
    masks, scores = decoder.decode(model, window.image_embed, window.high_res_feats, sparse, dense, multimask)
    assert masks.shape == expected_masks.shape == (1, 3 if multimask else 1, 256, 256)
    torch.testing.assert_close(masks, expected_masks, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(scores, expected_scores, rtol=1e-4, atol=1e-5)


def test_the_fast_decoder_equals_sam2s_with_a_previous_mask_as_input(window):
    model = tiny_model().model
    previous = torch.randn((1, 1, 256, 256), generator=torch.Generator().manual_seed(9)) * 8
    sparse, dense = prompt_embeddings(model, [[412.3, 305.8], [600.0, 700.0]], [1, 1], previous)
    expected_masks, expected_scores = stock(model, window, sparse, dense, False)
    masks, scores = decoder.decode(model, window.image_embed, window.high_res_feats, sparse, dense, False)
    torch.testing.assert_close(masks, expected_masks, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(scores, expected_scores, rtol=1e-4, atol=1e-5)


def test_features_in_ordinary_layout_give_the_same_result(window):
    model = tiny_model().model
    sparse, dense = prompt_embeddings(model, *PROMPTS["one positive point"])
    contiguous = [f.contiguous() for f in window.high_res_feats]
    masks, _ = decoder.decode(model, window.image_embed, contiguous, sparse, dense, True)
    expected, _ = decoder.decode(model, window.image_embed, window.high_res_feats, sparse, dense, True)
    torch.testing.assert_close(masks, expected, rtol=1e-5, atol=1e-5)
