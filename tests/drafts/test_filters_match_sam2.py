"""Our filters keep the masks SAM2's own automatic mask generator keeps, on one stored window.

The reference is ``SAM2AutomaticMaskGenerator``'s crop step (``_process_crop`` without its
``set_image``: the predictor is given the stored features instead) on the same 1024 x 1024
window: the same point grid, ``_process_batch`` per batch, then its box NMS. The untrained
model's masks are meaningless; the thresholds are chosen so that each filter drops some
masks and some survive.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
from sam2.utils.amg import MaskData, area_from_rle, batch_iterator
from torchvision.ops.boxes import batched_nms

from annotator.drafts import filters, grid
from annotator.models import FeatureTile
from annotator.sam2 import features
from tests.support.sam2 import encode_cached, ingest_file, resampled_raster, tiny_model

pytestmark = [pytest.mark.sam2, pytest.mark.django_db]

SETTINGS = {
    "points_per_batch": 8,
    "pred_iou_thresh": 0.55,
    "stability_score_thresh": 0.5,
    "stability_score_offset": 0.02,
    "mask_threshold": 0.0,
    "box_nms_thresh": 0.95,
}


def sam2_kept(model, feats, points_per_side: int) -> MaskData:
    generator = SAM2AutomaticMaskGenerator(model, points_per_side=points_per_side, **SETTINGS)
    predictor = generator.predictor
    predictor._features = {
        "image_embed": feats.image_embed,
        "high_res_feats": [f.contiguous() for f in feats.high_res_feats],
    }
    predictor._orig_hw = [(1024, 1024)]
    predictor._is_image_set = True
    predictor._is_batch = False
    crop = [0, 0, 1024, 1024]
    data = MaskData()
    for (points,) in batch_iterator(generator.points_per_batch, generator.point_grids[0] * np.array([[1024, 1024]])):
        data.cat(generator._process_batch(points, (1024, 1024), crop, (1024, 1024), normalize=True))
    keep = batched_nms(
        data["boxes"].float(), data["iou_preds"], torch.zeros_like(data["boxes"][:, 0]), generator.box_nms_thresh
    )
    data.filter(keep)
    return data


def test_our_filters_keep_the_masks_sam2s_generator_keeps(cast, tmp_path):
    image = encode_cached(ingest_file(cast.project, cast.owner, resampled_raster(tmp_path / "square.tif", 1024, 1024)))
    tile = FeatureTile.objects.get(image=image, level=0)
    assert (tile.width, tile.height) == (1024, 1024)
    loaded = tiny_model()
    feats = features.to_decoder_inputs(features.load_window_tensors(tile.storage_key))
    points = grid.point_grid(4, tile.width, tile.height)

    ours = filters.filter_window(loaded, feats, points, tile.width, tile.height, filters.FilterParams(**SETTINGS))
    theirs = sam2_kept(loaded.model, feats, 4)

    decoded = len(points) * 3
    assert 0 < len(ours) < decoded  # the filters dropped some masks and kept some
    assert len(ours) == len(theirs["iou_preds"])
    np.testing.assert_allclose(ours.points, theirs["points"].numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.predicted_iou, theirs["iou_preds"].numpy(), atol=1e-4)
    np.testing.assert_allclose(ours.stability, theirs["stability_score"].numpy(), atol=1e-4)
    np.testing.assert_array_equal(ours.boxes, theirs["boxes"].numpy())
    np.testing.assert_array_equal(ours.area_px, [area_from_rle(rle) for rle in theirs["rles"]])
