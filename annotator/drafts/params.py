"""The parameters of a drafts run: SAM2AutomaticMaskGenerator's names and defaults, bounded.

``points_per_side`` counts points per 1024 window pixels at every level (SAM2: per image).
``min_mask_region_area`` is in window pixels and drops specks and fills holes of the
outline (SAM2 also fills them before the stability score; see :mod:`filters`).
``max_drafts`` caps the run's drafts (at most ``settings.DRAFTS_MAX_PER_RUN``).
Find similar adds ``similarity_threshold`` (cosine, -1 to 1) and ``example_annotations``
(ids; default: the approved annotations of the class on the image).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.conf import settings

from annotator.choices import DraftRunKind
from annotator.drafts.filters import FilterParams
from annotator.errors import InvalidInput

MAX_EXAMPLES = 100
# Find similar's cosine threshold when the request gives none (other runs have none at all).
SIMILARITY_DEFAULT = 0.8
# (type, low, high) of each numeric parameter; the defaults are DraftParams' own.
NUMBERS: dict[str, tuple[type, float | int, float | int]] = {
    "points_per_side": (int, 1, 128),
    "points_per_batch": (int, 1, 256),
    "pred_iou_thresh": (float, 0.0, 1.0),
    "stability_score_thresh": (float, 0.0, 1.0),
    "stability_score_offset": (float, 0.0, 16.0),
    "mask_threshold": (float, -16.0, 16.0),
    "box_nms_thresh": (float, 0.0, 1.0),
    "min_mask_region_area": (int, 0, 100_000),
    "max_drafts": (int, 1, 0),  # high: settings.DRAFTS_MAX_PER_RUN
    "similarity_threshold": (float, -1.0, 1.0),
}
SIMILAR_ONLY = ("similarity_threshold", "example_annotations")


@dataclass(frozen=True)
class DraftParams(FilterParams):
    """The filter parameters (inherited, same names and defaults) and the run's own."""

    points_per_side: int = 32
    min_mask_region_area: int = 0
    max_drafts: int = 2000
    similarity_threshold: float | None = None
    example_annotations: list[int] = field(default_factory=list)

    @property
    def filters(self) -> FilterParams:
        """The filter parameters, which share their names with these."""
        return FilterParams(**{name: getattr(self, name) for name in FilterParams.__dataclass_fields__})

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> DraftParams:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def parse_params(kind: str, raw) -> DraftParams:
    """Check a run's ``params`` object; InvalidInput names the bad one in a sentence."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("params must be an object.", field="params")
    allowed = set(NUMBERS) | {"use_m2m", "example_annotations"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput(f"Unknown parameter {unknown[0]!r}.", field="params")
    if kind != DraftRunKind.SIMILAR:
        for name in SIMILAR_ONLY:
            if name in raw:
                raise InvalidInput(f"{name} applies to find-similar runs only.", field="params")
    values: dict = {}
    for name, (kind_of, low, high) in NUMBERS.items():
        default = SIMILARITY_DEFAULT if name == "similarity_threshold" else getattr(DraftParams, name)
        if name == "max_drafts":
            high = settings.DRAFTS_MAX_PER_RUN
            default = min(default, high)
        if name == "similarity_threshold" and kind != DraftRunKind.SIMILAR:
            continue
        value = raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{name} must be a number.", field="params")
        if kind_of is int and (not float(value).is_integer()):
            raise InvalidInput(f"{name} must be a whole number.", field="params")
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}.", field="params")
        values[name] = kind_of(value)
    m2m = raw.get("use_m2m", False)
    if not isinstance(m2m, bool):
        raise InvalidInput("use_m2m must be true or false.", field="params")
    examples = raw.get("example_annotations", [])
    if not isinstance(examples, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) and 1 <= x < 2**63 for x in examples
    ):
        raise InvalidInput("example_annotations must be a list of annotation ids.", field="params")
    if len(examples) > MAX_EXAMPLES:
        raise InvalidInput(f"Give at most {MAX_EXAMPLES} example annotations.", field="params")
    return DraftParams(**values, use_m2m=m2m, example_annotations=sorted(set(examples)))
