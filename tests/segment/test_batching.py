"""Clicks decoded together in one batched pass give what each gives decoded alone.

Pure functions of the untrained, seeded tiny model on seeded random window features; the
batcher's queue is driven through its states (a pass in progress, clicks waiting), not timed.
"""

from __future__ import annotations

import threading

import pytest
import torch

from annotator.errors import DecoderBusy
from annotator.sam2 import decoder, features
from annotator.segment.batching import DecoderBatcher
from tests.support.sam2 import tiny_model

pytestmark = pytest.mark.sam2


def random_window(seed: int) -> features.WindowFeatures:
    generator = torch.Generator().manual_seed(seed)
    stored = {
        name: torch.randn(shape, generator=generator).to(torch.float16)
        for name, shape in features.FEATURE_SHAPES.items()
    }
    return features.to_decoder_inputs(stored)


def click(model, window, point, previous=None):
    coords = torch.tensor([[point]], dtype=torch.float32)
    with torch.inference_mode():
        sparse, dense = model.sam_prompt_encoder(
            points=(coords, torch.tensor([[1]], dtype=torch.int32)), boxes=None, masks=previous
        )
    return window, sparse, dense


@pytest.fixture(scope="module")
def clicks():
    model = tiny_model().model
    previous = torch.randn((1, 1, 256, 256), generator=torch.Generator().manual_seed(3)) * 8
    # Three windows (as of different images); one click refines a previous mask.
    return model, [
        click(model, random_window(1), [412.3, 305.8]),
        click(model, random_window(2), [100.0, 900.5]),
        click(model, random_window(3), [700.25, 40.0], previous),
    ]


def test_a_batch_of_windows_decodes_as_each_window_alone(clicks):
    model, items = clicks
    windows, sparse, dense = zip(*items, strict=True)
    for multimask in (True, False):
        masks, scores = decoder.decode_windows(model, list(windows), torch.cat(sparse), list(dense), multimask)
        for i, (window, s, d) in enumerate(items):
            alone_masks, alone_scores = decoder.decode(
                model, window.image_embed, window.high_res_feats, s, d, multimask
            )
            torch.testing.assert_close(masks[i], alone_masks[0], rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(scores[i], alone_scores[0], rtol=1e-4, atol=1e-5)


def hold_pass_in_progress(batcher: DecoderBatcher) -> None:
    with batcher._changed:
        batcher._busy = True


def end_pass_in_progress(batcher: DecoderBatcher) -> None:
    with batcher._changed:
        batcher._busy = False
        batcher._changed.notify_all()


def wait_for_queue(batcher: DecoderBatcher, length: int) -> None:
    with batcher._changed:
        assert batcher._changed.wait_for(lambda: len(batcher._queue) == length, timeout=60)


def test_clicks_arriving_during_a_pass_are_decoded_together_in_the_next(clicks):
    model, items = clicks
    batcher = DecoderBatcher(max_batch=8, max_queue=32)
    hold_pass_in_progress(batcher)
    results: dict[int, tuple] = {}

    def submit(i: int) -> None:
        results[i] = batcher.decode(model, *items[i], True)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(items))]
    for thread in threads:
        thread.start()
    wait_for_queue(batcher, len(items))
    end_pass_in_progress(batcher)
    for thread in threads:
        thread.join(60)

    # The previous mask's click has as many tokens as the others, so all three share one pass.
    assert [results[i][2] for i in range(len(items))] == [3, 3, 3]
    for i, (window, sparse, dense) in enumerate(items):
        alone_masks, alone_scores = decoder.decode(
            model, window.image_embed, window.high_res_feats, sparse, dense, True
        )
        torch.testing.assert_close(results[i][0], alone_masks[0], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(results[i][1], alone_scores[0], rtol=1e-4, atol=1e-5)


def test_a_click_beyond_the_queue_bound_is_refused_at_once(clicks):
    model, items = clicks
    batcher = DecoderBatcher(max_batch=1, max_queue=1)
    hold_pass_in_progress(batcher)
    waiting = threading.Thread(target=batcher.decode, args=(model, *items[0], True))
    waiting.start()
    wait_for_queue(batcher, 1)
    with pytest.raises(DecoderBusy):
        batcher.decode(model, *items[1], True)
    end_pass_in_progress(batcher)
    waiting.join(60)
    assert not batcher._queue and not batcher._busy
