"""A model evaluation run in this process on the untrained tiny SAM2 model (numbers meaningless, machinery real).

The image is the NAIP scene (934 x 723 px, one window at level 0), encoded for real; the
approved polygons are squares drawn in its pixels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from django.core.management import call_command

from annotator.models import LabelClass, ModelEvaluation
from annotator.quality import evaluation as service
from annotator.segment import service as segment
from tests.support.sam2 import encode_cached

pytestmark = [pytest.mark.sam2, pytest.mark.django_db]


@pytest.fixture
def scene(cast, ingested_image, approved):
    image = encode_cached(ingested_image("naip_rgbn_utm14_2020.tif"))
    field = LabelClass.objects.create(project=cast.project, name="field", colour="#22c55e", order=0)
    pond = LabelClass.objects.create(project=cast.project, name="pond", colour="#3b82f6", order=1)
    made = [
        approved(image, 200, 200, 30, field),
        approved(image, 500, 400, 25, field),
        approved(image, 700, 150, 15, pond),
        approved(image, 420, 600, 20, None),
        # Half outside the image: no window holds it.
        approved(image, 930, 300, 30, pond),
        # Smaller than a pixel centre: nothing to rasterize.
        approved(image, 100.2, 600.2, 0.2, pond),
        # Not approved: never evaluated.
        approved(image, 300, 300, 20, field, state="submitted"),
    ]
    return image, made, field, pond


def test_an_evaluation_replays_clicks_on_every_approved_polygon_and_keeps_its_figures(cast, scene):
    image, made, *_classes = scene
    params = service.parse_params(cast.project, None, None, None, 6)
    evaluation = service.start_evaluation(cast.project, cast.owner, params)
    evaluation = service.run_evaluation(ModelEvaluation.objects.get(pk=evaluation.pk))

    s = evaluation.summary
    print("\n" + json.dumps({k: s[k] for k in ("objects", "noc85", "noc90", "nof90", "miou", "runtime_s")}))
    assert evaluation.model_name == "sam2.1_hiera_tiny" and evaluation.untrained is True
    assert evaluation.checkpoint_digest.startswith("untrained")
    assert s["approved"] == 6 and s["objects"] == 4
    assert s["skipped"] == {service.SKIP_NO_WINDOW: 1, service.SKIP_EMPTY: 1}
    assert len(s["miou"]) == 5 and all(0.0 <= v <= 1.0 for v in s["miou"])
    assert 1.0 <= s["noc85"] <= s["noc90"] <= 6.0 and 0 <= s["nof90"] <= 4
    assert [c["name"] for c in evaluation.per_class] == ["field", "pond", None]
    assert [c["objects"] for c in evaluation.per_class] == [2, 1, 1]
    assert {r["annotation"] for r in evaluation.object_results} == {a.pk for a in made[:4]}
    for result in evaluation.object_results:
        assert result["level"] == 0 and result["window"] == [0, 0, 934, 723]
        assert 1 <= len(result["ious"]) <= 6 and len(result["clicks"]) == len(result["ious"])
        # The first click is positive, inside the square, at its centre (the farthest point from its border).
        col, row, positive = result["clicks"][0]
        annotation = next(a for a in made if a.pk == result["annotation"])
        assert positive == 1 and (col, row) in _centre_pixels(image, annotation)
        # No pixel is clicked twice.
        assert len({(c, r) for c, r, _ in result["clicks"]}) == len(result["clicks"])


def _centre_pixels(image, annotation) -> set[tuple[int, int]]:
    """The pixels of the annotation's rasterized square farthest from its border (its centre pixels)."""
    target = service.object_window(annotation, segment.current_cache_key(image))
    from scipy.ndimage import distance_transform_edt

    d = distance_transform_edt(np.pad(target.truth, 1))[1:-1, 1:-1]
    rows, cols = np.nonzero(d == d.max())
    return {(int(c), int(r)) for r, c in zip(rows, cols, strict=True)}


def test_the_first_click_decodes_as_the_segment_endpoint_decodes_that_click(cast, scene, approved):
    image, made, *_ = scene
    target = service.object_window(made[0], segment.current_cache_key(image))
    loaded = segment.decoder_model(image.project.sam2_model)
    ious, clicks = service.simulate_clicks(loaded, target, max_clicks=1)
    # The endpoint's own path for that click: prompts in image pixels → window choice → decoder.
    x, y = clicks[0].point
    prompts = segment.PromptSet(np.array([[x, y]]), np.zeros((0, 2)), None)
    chosen = segment.choose_windows(segment.candidate_windows(image, prompts), prompts)[0]
    decoded = segment.decode_in_window(loaded, chosen, None, return_all=False)
    endpoint_mask = segment.upsample(torch.from_numpy(decoded.low_res[[decoded.best]]), 934, 723)[0]
    assert ious[0] == pytest.approx(service.iou(target.truth, endpoint_mask))


def test_another_model_is_evaluated_only_where_its_features_are_stored(cast, scene):
    # Only the tiny model's features are stored: the small one has none for this image.
    params = service.parse_params(cast.project, "sam2.1_hiera_small", None, None, 5)
    evaluation = service.run_evaluation(service.create_evaluation(cast.project, cast.owner, params))
    assert evaluation.model_name == "sam2.1_hiera_small" and evaluation.untrained is True
    assert evaluation.summary["objects"] == 0 and evaluation.summary["skipped"] == {service.SKIP_NO_FEATURES: 6}
    assert evaluation.summary["noc90"] is None and evaluation.per_class == []


def test_a_seeded_sample_is_reproducible(cast, scene):
    params = service.EvaluationParams("sam2.1_hiera_tiny", sample=3, seed=7)
    first = [a.pk for a in service.approved_annotations(cast.project, params.sample, params.seed)]
    again = [a.pk for a in service.approved_annotations(cast.project, params.sample, params.seed)]
    other = [a.pk for a in service.approved_annotations(cast.project, params.sample, 8)]
    assert len(first) == 3 and first == again
    assert len(set(first)) == 3 and (first != other or len(set(other)) == 3)


def test_the_management_command_evaluates_a_sample_and_prints_the_figures(cast, scene, capsys):
    call_command("evaluate_model", str(cast.project.pk), "--sample", "2", "--seed", "3", "--max-clicks", "6")
    out = capsys.readouterr().out
    evaluation = ModelEvaluation.objects.get()
    assert evaluation.params == {"sample": 2, "seed": 3, "max_clicks": 6}
    assert evaluation.job.status == "succeeded" and evaluation.job.kind == "evaluate"
    assert evaluation.summary["approved"] == 2
    assert all(len(r["ious"]) <= 6 for r in evaluation.object_results)
    assert "untrained weights" in out and "NoC@90" in out and "overall" in out
    call_command("evaluate_model", str(cast.project.pk), "--max-clicks", "5", "--json")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["untrained"] is True and line["objects"] == 4 and len(line["miou"]) == 5


def test_the_management_command_refuses_an_unknown_project_or_model(cast, scene):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no project"):
        call_command("evaluate_model", "999999")
    with pytest.raises(CommandError, match="Unknown SAM2 model"):
        call_command("evaluate_model", str(cast.project.pk), "--model", "sam9")
