"""A segment-everything run on a real ``encode`` worker over a three-window image: drafts with
provenance, no image-encoder call, cancelled after its first window and resumed by a retry
(untrained tiny model: the masks are meaningless, the machinery is real)."""

from __future__ import annotations

import pytest

from annotator.choices import JobStatus
from annotator.drafts import grid
from annotator.models import Annotation, DraftRun, FeatureTile, Job
from tests.support.sam2 import encode_cached, ingest_file, resampled_raster

pytestmark = [pytest.mark.worker, pytest.mark.sam2, pytest.mark.timeout(900)]

PARAMS = {
    "points_per_side": 4,
    "points_per_batch": 16,
    "pred_iou_thresh": 0.5,
    "stability_score_thresh": 0.3,
    "stability_score_offset": 0.02,
}
PROVENANCE = {
    "run",
    "kind",
    "model",
    "checkpoint_digest",
    "untrained",
    "level",
    "window",
    "predicted_iou",
    "stability",
    "candidate_disagreement",
    "touches_window_edge",
    "area_px",
    "params",
}


def test_a_run_drafts_every_window_without_the_encoder_and_resumes_after_a_cancel(
    celery_worker, cast, client_for, tmp_path, wait_for
):
    # 1100 x 1024 px: two level-0 windows (columns 0 and 76) and one level-1 window.
    image = encode_cached(ingest_file(cast.project, cast.owner, resampled_raster(tmp_path / "seam.tif", 1100, 1024)))
    tiles = list(FeatureTile.objects.filter(image=image))
    assert len(tiles) == 3

    response = client_for(cast.reviewer).post(
        f"/api/v1/images/{image.pk}/draft-runs/", {"kind": "everything", "params": PARAMS}, format="json"
    )
    assert response.status_code == 202, response.content
    run_id, job_id = response.json()["id"], response.json()["job"]["id"]

    # Cancelled between windows once the first one is saved.
    assert wait_for(lambda: len(DraftRun.objects.get(pk=run_id).windows_done) >= 1, interval_s=0.05)
    cancelled = client_for(cast.reviewer).post(f"/api/v1/jobs/{job_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert len(DraftRun.objects.get(pk=run_id).windows_done) < 3

    # Retried: the run goes on from the windows it has not done.
    assert client_for(cast.owner).post(f"/api/v1/jobs/{job_id}/retry/").status_code == 202
    assert wait_for(lambda: Job.objects.get(pk=job_id).status == JobStatus.SUCCEEDED, interval_s=0.5)

    job = Job.objects.get(pk=job_id)
    assert job.progress == 1.0 and "windows" in job.message and "UNTRAINED" in job.message
    run = DraftRun.objects.get(pk=run_id)
    assert sorted(run.windows_done) == sorted(f"L{t.level}_r{t.row_off}_c{t.col_off}" for t in tiles)
    # Each window decoded once: a resumed run does not go over its done windows again.
    assert run.counts["points"] == sum(len(grid.point_grid(4, t.width, t.height)) for t in tiles)
    assert run.counts["encoder_calls"] == 0 and run.counts["decoder_only"] is True
    assert run.finished_at is not None

    drafts = list(Annotation.objects.live().filter(image=image, provenance__run=run.pk))
    assert drafts and len(drafts) == run.counts["drafts"]
    for draft in drafts:
        assert draft.state == "draft" and draft.source == "auto" and draft.author == cast.reviewer
        assert set(draft.provenance) >= PROVENANCE
        assert draft.provenance["untrained"] is True and draft.provenance["params"]["points_per_side"] == 4
        assert draft.versions.count() == 1
    listed = client_for(cast.viewer).get(f"/api/v1/images/{image.pk}/draft-runs/").json()["results"]
    assert listed[0]["counts"]["drafts"] == len(drafts) and listed[0]["status"] == "succeeded"
