"""A click's SAM2 figures: computed as SAM2 computes them, answered, and kept on the saved annotation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from annotator.models import FeatureTile
from tests.segment.test_segment import CLICK_GRID, find_click, pixel_to_crs, post, reference_logits
from tests.support.sam2 import encode_cached, tiny_model


@pytest.fixture(scope="module")
def predictor():
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    return SAM2ImagePredictor(tiny_model().model)


def full_stability(logits: np.ndarray, width: int, height: int) -> float:
    """SAM2's own: the whole window upsampled (as postprocess_masks), cropped, calculate_stability_score."""
    from sam2.utils.amg import calculate_stability_score

    up = F.interpolate(torch.from_numpy(logits)[None, None], (1024, 1024), mode="bilinear", align_corners=False)
    return float(calculate_stability_score(up[0, :, :height, :width], 0.0, 1.0)[0])


def test_the_stability_of_the_pixels_near_the_mask_equals_sam2s_on_the_whole_window():
    from annotator.segment.service import candidate_disagreement, stability_score

    rows, cols = np.mgrid[0:256, 0:256]
    blob = (6.0 - np.hypot(rows - 60.3, cols - 200.7) / 3.0).astype(np.float32)  # a cone: > 0 within 18 cells
    noisy = np.random.default_rng(4).normal(0.0, 2.0, (256, 256)).astype(np.float32)
    for logits, (width, height) in [(blob, (1024, 1024)), (blob, (810, 1024)), (noisy, (700, 500))]:
        assert stability_score(logits, width, height) == pytest.approx(full_stability(logits, width, height), abs=1e-6)
    assert stability_score(np.full((256, 256), -5.0, np.float32), 1024, 1024) is None

    # Candidates: the chosen one is 4 cells; the others hold 2 of them (IoU 0.5) and all 4 (IoU 1).
    low_res = np.full((3, 256, 256), -1.0, np.float32)
    low_res[0, :2, :2] = 1.0
    low_res[1, :1, :2] = 1.0
    low_res[2, :2, :2] = 1.0
    assert candidate_disagreement(low_res, 0, 1024, 1024) == pytest.approx(1 - (0.5 + 1.0) / 2)
    assert candidate_disagreement(low_res[:1], 0, 1024, 1024) is None


@pytest.mark.sam2
@pytest.mark.django_db
def test_a_clicked_annotation_keeps_the_figures_of_its_session_server_side(ingested_image, predictor, cast, client_for):
    from annotator.workflow.risk import risk_of

    image = encode_cached(ingested_image("naip_rgbn_utm14_2020.tif"))
    (tile,) = FeatureTile.objects.filter(image=image)
    col, row = find_click(predictor, tile, image, CLICK_GRID)
    annotator = client_for(cast.annotator)
    answer = post(annotator, image, {"positive": [pixel_to_crs(image, col, row)]}).json()
    props = answer["properties"]
    logits = reference_logits(predictor, tile, [[col, row]], [1])
    assert props["predicted_iou"] == props["score"]
    assert props["stability"] == pytest.approx(full_stability(logits, tile.width, tile.height), abs=1e-3)
    assert 0.0 <= props["candidate_disagreement"] <= 1.0  # one click: three candidates
    assert props["touches_window_edge"] is props["mask_cut_by_window_edge"]

    url = f"/api/v1/projects/{cast.project.pk}/annotations/"
    # The browser claims other figures; the server keeps the session's.
    body = {"image": image.pk, "geometry": answer["geometry"], "source": "sam", "session_id": props["session_id"],
            "sam": {"score": 0.99}}  # fmt: skip
    saved = annotator.post(url, body, format="json").json()["properties"]
    provenance = saved["provenance"]
    for name in ("predicted_iou", "stability", "candidate_disagreement", "touches_window_edge", "level", "model"):
        assert provenance[name] == props[name]
    assert provenance["session"] == props["session_id"]
    expected = risk_of(provenance, saved["area_m2"])
    assert saved["risk"] == pytest.approx(expected.score) and set(saved["risk_parts"]) == set(expected.parts)

    # Someone else naming that session gets nothing from it.
    theirs = client_for(cast.reviewer).post(url, body, format="json").json()["properties"]
    assert (theirs["provenance"], theirs["risk"]) == ({}, None)
