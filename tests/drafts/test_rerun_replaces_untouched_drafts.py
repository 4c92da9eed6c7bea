"""A new run of the same kind on the same image and area replaces the earlier runs' untouched
drafts, never the edited, submitted or reviewed ones, nor those of a run on another area."""

from __future__ import annotations

import json

import pytest
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon

from annotator.drafts import runs
from annotator.models import Annotation, AnnotationVersion, DraftRun
from annotator.workflow import annotations, review
from tests.support.workflow import CENTRE, square

pytestmark = pytest.mark.django_db


def test_a_rerun_deletes_only_the_untouched_drafts_of_earlier_runs_on_the_same_area(cast, image):
    def new_run(area=None):
        return DraftRun.objects.create(
            project=cast.project, image=image, kind="everything", area=area, model_name="m", created_by=cast.reviewer
        )

    def draft_of(run, offset: float) -> Annotation:
        made = annotations.create_annotation(image, cast.reviewer, square(CENTRE[0] + offset, CENTRE[1]))
        Annotation.objects.filter(pk=made.pk).update(source="auto", provenance={"run": run.pk, "kind": run.kind})
        return made

    first = new_run()
    untouched = draft_of(first, 0.0)
    edited = draft_of(first, 0.0015)
    annotations.update_annotation(
        edited.pk, cast.reviewer, expected_version=1, geometry=square(CENTRE[0] + 0.0015, CENTRE[1], 0.0004)
    )
    submitted = draft_of(first, 0.003)
    review.transition(submitted.pk, "submit", cast.reviewer)
    area = MultiPolygon(GEOSGeometry(json.dumps(square(*CENTRE, 0.004))), srid=4326)
    elsewhere = draft_of(new_run(area), 0.0045)

    second = new_run()
    assert runs.replace_earlier_runs(second) == 1

    assert Annotation.objects.get(pk=untouched.pk).deleted_at is not None
    assert AnnotationVersion.objects.filter(annotation_id=untouched.pk, action="deleted").count() == 1
    assert Annotation.objects.live().filter(pk__in=[edited.pk, submitted.pk, elsewhere.pk]).count() == 3
