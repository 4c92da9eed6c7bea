"""The candidate masks' disagreement, batched (drafts, any device) and for one click, against a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotator.sam2.scores import candidate_disagreement, candidate_disagreements


def loop_reference(low_res: np.ndarray, best: int, width: int, height: int) -> float:
    """1 - mean IoU of candidate ``best`` with each other one, one pair at a time."""
    masks = low_res[:, : -(-height // 4), : -(-width // 4)] > 0
    ious = []
    for other in range(len(masks)):
        if other == best:
            continue
        union = np.logical_or(masks[best], masks[other]).sum()
        ious.append(1.0 if union == 0 else np.logical_and(masks[best], masks[other]).sum() / union)
    return 1.0 - float(np.mean(ious))


def test_every_candidates_disagreement_equals_the_pairwise_loop_within_the_valid_cells():
    rng = np.random.default_rng(11)
    for case in range(40):
        logits = (rng.normal(size=(5, 3, 256, 256)) + rng.normal(0, 2)).astype(np.float32)
        if case % 10 == 0:
            logits[1] = -1.0  # a prompt whose three masks are empty agrees with itself
        width, height = (int(v) for v in rng.integers(1, 1025, size=2))
        batched = candidate_disagreements(torch.from_numpy(logits), width, height)
        assert batched.shape == (5, 3)
        for point in range(5):
            for c in range(3):
                expected = loop_reference(logits[point], c, width, height)
                assert float(batched[point, c]) == pytest.approx(expected, abs=1e-12)
                assert candidate_disagreement(logits[point], c, width, height) == round(expected, 6)


def test_a_single_candidate_has_no_disagreement():
    logits = torch.zeros((4, 1, 256, 256))
    assert torch.isnan(candidate_disagreements(logits, 1024, 1024)).all()
    assert candidate_disagreement(logits[0].numpy(), 0, 1024, 1024) is None
