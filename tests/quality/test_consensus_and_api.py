"""Agreement figures and consensus drafts through the API, on annotations stored in EPSG:4326.

Polygons are drawn as squares in UTM zone 14N (metres) over the test image and stored in
EPSG:4326 (tests/support/agreement.py), so the figures the API gives back in metres can be
checked by hand. The three annotators' areas overlap: an area may be given to several people.
"""

from __future__ import annotations

import pytest
import shapely

from annotator import jobs
from annotator.choices import JobStatus
from annotator.models import Annotation, AnnotationSource, AnnotationState, ConsensusRun, Job
from annotator.workflow import review
from tests.support.agreement import X0, Y0, in_metres
from tests.support.agreement import three_annotators as make_three

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_annotators(cast, make_user, image):
    return make_three(cast, make_user, image)


def test_every_member_reads_the_agreement_figures_in_metres(cast, client_for, three_annotators):
    answer = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/agreement/")
    assert answer.status_code == 200, answer.content
    figures = answer.json()
    assert figures["allowed_actions"] == []
    pairs = {tuple(p["annotators"]): p for p in figures["pairs"]}
    # annotator (x 1..21) vs reviewer (x -1..19): IoU 18/22; boundary: of each 80 m, 36 m on the
    # other's (0 m), 24 m at 2 m and 20 m in 0..2 m evenly: the median, 40 m in, is 1 m.
    one = pairs["annotator", "reviewer"]
    assert one["matched"] == 1 and one["polygons"] == 3
    assert one["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert one["mean_iou"] == pytest.approx(18 / 22, abs=1e-3)
    assert one["median_boundary_m"] == pytest.approx(1.0, abs=0.05)
    assert one["label_agreement"] == 1.0
    assert pairs["carol", "reviewer"]["mean_iou"] == pytest.approx(19 / 21, abs=1e-3)
    assert figures["overall"]["clusters"] == 1


def test_annotators_and_strangers_may_not_make_consensus_drafts(cast, client_for, three_annotators):
    url = f"/api/v1/projects/{cast.project.pk}/agreement/consensus/"
    body = {"area": three_annotators.area.pk}
    answer = client_for(cast.annotator).post(url, body, format="json")
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert client_for(cast.viewer).post(url, body, format="json").status_code == 403
    assert client_for(cast.stranger).post(url, body, format="json").status_code == 404
    assert not Annotation.objects.filter(source=AnnotationSource.CONSENSUS).exists()


def test_a_reviewer_makes_a_consensus_draft_that_enters_the_review_queue_for_others(cast, client_for, three_annotators):
    client = client_for(cast.reviewer)
    figures = client.get(f"/api/v1/projects/{cast.project.pk}/agreement/").json()
    assert figures["allowed_actions"] == ["make_consensus"]
    answer = client.post(
        f"/api/v1/projects/{cast.project.pk}/agreement/consensus/",
        {"area": three_annotators.area.pk},
        format="json",
    )
    assert answer.status_code == 202, answer.content
    queued = answer.json()
    assert (queued["job"]["kind"], queued["job"]["status"], queued["created"]) == ("consensus", "queued", [])
    assert jobs.run_job(queued["job"]["id"]).status == JobStatus.SUCCEEDED  # what a default-queue worker does
    run = client.get(f"/api/v1/projects/{cast.project.pk}/agreement/consensus/{queued['id']}/").json()
    assert run["job"]["message"].startswith("1 consensus draft sent for review")
    assert run["clusters"] == 1 and run["finished_at"]
    (created,) = run["created"]
    draft = Annotation.objects.get(pk=created)
    assert (draft.source, draft.state, draft.author) == (
        AnnotationSource.CONSENSUS,
        AnnotationState.SUBMITTED,
        cast.reviewer,
    )
    assert draft.label_class == three_annotators.house  # two votes of three
    history = list(draft.versions.values_list("version", "action", "state", "user__username"))
    assert history == [(1, "created", "draft", "reviewer"), (2, "submitted", "submitted", "reviewer")]
    members = sorted(a.pk for a in three_annotators.drawn[:3])
    assert sorted(draft.provenance["members"]) == members
    assert draft.provenance["member_count"] == 3
    assert draft.provenance["label_votes"] == {"house": 2, "shed": 1}
    # The majority of x 1..21, -1..19 and 0..20 is the 20 m square 0..20, to a cell.
    cell = draft.provenance["cell_m"]
    assert shapely.hausdorff_distance(in_metres(draft), shapely.box(X0, Y0, X0 + 20, Y0 + 20)) <= cell + 0.01
    # Another reviewer or owner decides on it (without self-approval its maker does not).
    queue = client_for(cast.owner).get(f"/api/v1/projects/{cast.project.pk}/review/queue/")
    assert created in [feature["id"] for feature in queue.json()["features"]]


def test_running_consensus_again_replaces_untouched_drafts_and_keeps_reviewed_ones(cast, three_annotators):
    from annotator.quality.agreement import make_consensus_drafts

    area = three_annotators.area
    first = make_consensus_drafts(area, cast.reviewer).created[0]
    second = make_consensus_drafts(area, cast.owner)
    assert second.replaced == 1
    replaced = Annotation.objects.get(pk=first.pk)
    assert replaced.deleted_at is not None and replaced.version == 3
    assert replaced.versions.get(version=3).action == "deleted"
    kept = second.created[0]
    review.transition(kept.pk, "approve", cast.reviewer)
    third = make_consensus_drafts(area, cast.owner)
    assert third.replaced == 0
    assert Annotation.objects.get(pk=kept.pk).deleted_at is None
    # Consensus drafts are no annotator's opinion: they never join the comparison; and the
    # object a reviewer has decided on gets no second draft.
    assert (third.clusters, third.kept, third.created) == (1, 1, [])


def test_a_consensus_job_cancelled_while_it_runs_leaves_nothing_behind(cast, three_annotators):
    from annotator.quality.agreement import run_consensus_job, start_consensus

    run = start_consensus(three_annotators.area, cast.reviewer)
    job = jobs.claim(run.job.pk)  # as a worker does before running it
    reports = []

    def cancelled_once_compared(share: float, message: str) -> bool:
        reports.append(message)
        if message.startswith("fusing"):
            jobs.cancel(Job.objects.get(pk=job.pk))  # the owner's click, between two reports
        return Job.set_progress(job, share, message)

    job.set_progress = cancelled_once_compared
    assert run_consensus_job(job) == "cancelled"
    assert reports == ["comparing the annotators' polygons", "fusing 1 objects drawn by two or more annotators"]
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert not Annotation.objects.filter(source=AnnotationSource.CONSENSUS).exists()
    assert ConsensusRun.objects.get(pk=run.pk).finished_at is None


def test_a_bad_iou_threshold_or_an_unknown_area_is_refused(cast, client_for, three_annotators):
    client = client_for(cast.owner)
    answer = client.get(f"/api/v1/projects/{cast.project.pk}/agreement/", {"iou": "0"})
    assert answer.status_code == 400
    for area in (999999, 10**20):  # the second is past PostgreSQL's bigint
        url = f"/api/v1/projects/{cast.project.pk}/agreement/consensus/"
        answer = client.post(url, {"area": area}, format="json")
        assert answer.status_code == 404 and answer.json()["code"] == "not_found"
        answer = client.get(f"/api/v1/projects/{cast.project.pk}/agreement/", {"area": area})
        assert answer.status_code == 404
        answer = client.get(f"/api/v1/projects/{cast.project.pk}/agreement/", {"image": area})
        assert answer.status_code == 404


def test_an_owner_gives_the_same_ground_to_two_annotators_by_drawing_overlapping_areas(cast, client_for, image):
    from tests.support.agreement import box_m

    client = client_for(cast.owner)
    for person in (cast.annotator, cast.reviewer):
        body = {"image": image.pk, "geometry": box_m(-50, -50, 50, 50), "assignee": person.username, "name": "Block B"}
        answer = client.post(f"/api/v1/projects/{cast.project.pk}/areas/", body, format="json")
        assert answer.status_code == 201, answer.content
    areas = client.get(f"/api/v1/projects/{cast.project.pk}/areas/").json()["features"]
    assert sorted(f["properties"]["assignee"] for f in areas) == ["annotator", "reviewer"]


def test_the_figures_take_the_same_number_of_queries_however_many_images_there_are(cast, client_for, three_annotators):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotator.workflow import annotations
    from tests.support.agreement import box_m
    from tests.support.workflow import make_image

    client = client_for(cast.owner)
    url = f"/api/v1/projects/{cast.project.pk}/agreement/"
    with CaptureQueriesContext(connection) as one_image:
        assert client.get(url).status_code == 200
    second = make_image(cast.project, name="second.tif")
    for person in three_annotators.people:
        annotations.create_annotation(second, person, box_m(0, 0, 20, 20))
    with CaptureQueriesContext(connection) as two_images:
        figures = client.get(url).json()
    assert figures["overall"]["clusters"] == 2
    assert len(two_images) == len(one_image)
