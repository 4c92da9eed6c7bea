"""Fixtures of the workflow tests: a label class with attributes, and annotations in any state."""

from __future__ import annotations

import pytest

from tests.support.workflow import CENTRE, square


@pytest.fixture
def building(cast):
    """A label class with one attribute of each type."""
    from annotator.models import LabelClass

    return LabelClass.objects.create(
        project=cast.project,
        name="building",
        attributes=[
            {"name": "storeys", "type": "number", "required": False},
            {"name": "roof", "type": "choice", "choices": ["flat", "gabled"], "required": True},
            {"name": "note", "type": "text"},
            {"name": "occupied", "type": "boolean"},
        ],
    )


@pytest.fixture
def make_annotation(image):
    """A factory: an annotation by ``user`` brought to ``state`` through the real services."""
    from annotator.workflow import annotations, review

    def make(user, state: str = "draft", geometry: dict | None = None, reviewer=None, on=None):
        annotation = annotations.create_annotation(on or image, user, geometry or square(*CENTRE))
        if state in ("submitted", "approved", "rejected"):
            annotation = review.transition(annotation.pk, "submit", user)
        if state == "approved":
            annotation = review.transition(annotation.pk, "approve", reviewer)
        if state == "rejected":
            annotation = review.transition(annotation.pk, "reject", reviewer, comment="Too loose around the roof.")
        return annotation

    return make
