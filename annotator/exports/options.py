"""Export formats and options: parsed and validated once, stored as JSON on the Export row."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from annotator.errors import InvalidInput
from annotator.models import ExportFormat, LabelClass, Project
from annotator.quality import regularise as regularisation

SPLIT_NAMES = ("train", "val", "test")
DEFAULT_SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}
MIN_CHIP_SIZE = 32
MAX_CHIP_SIZE = 8192


@dataclass(frozen=True)
class ExportOptions:
    """How chips are cut and split, and the CRS of the GIS files.

    Attributes:
        chip_size: chip width = height, pixels of the image at full resolution.
        chip_overlap: pixels shared by neighbouring chips (0 ≤ overlap ≤ chip_size / 2).
        crs: ``"4326"`` (EPSG:4326) or ``"image"`` (each image's own CRS, one layer per
            image) for GeoPackage and Shapefile; GeoJSON is always EPSG:4326 (RFC 7946).
        splits: fraction of chips per split, summing to 1.
        seed: seed of the split assignment.
        block_chips: a spatial block is ``block_chips`` x ``block_chips`` chips.
        include_empty_chips: also export chips that hold no annotation.
        regularise: ``{"label_class": id, "allow_45": bool, "tolerance_m": metres}`` to
            square the corners of that class's footprints in every file (touching ones
            keep touching; :mod:`annotator.quality.regularise`), or None to export outlines
            as stored. The manifest reports each footprint's IoU and angle figures.
    """

    chip_size: int = 1024
    chip_overlap: int = 0
    crs: str = "4326"
    splits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLITS))
    seed: int = 0
    block_chips: int = 4
    include_empty_chips: bool = False
    regularise: dict | None = None

    @property
    def chip_stride(self) -> int:
        return self.chip_size - self.chip_overlap

    def as_json(self) -> dict:
        return asdict(self)


def _int(raw: dict, name: str, default: int, low: int, high: int) -> int:
    value = raw.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}.", field=name)
    return value


def parse_formats(raw) -> list[str]:
    """Validate a list of format names (see :class:`ExportFormat`); STAC implies masks."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"formats must be a non-empty list of {', '.join(ExportFormat.values)}.", field="formats")
    unknown = sorted(set(map(str, raw)) - set(ExportFormat.values))
    if unknown:
        raise InvalidInput(f"Unknown formats {unknown}; use {', '.join(ExportFormat.values)}.", field="formats")
    formats = set(raw)
    if ExportFormat.STAC in formats:
        formats.add(ExportFormat.MASKS)  # the STAC label items point at the mask chips
    return [f for f in ExportFormat.values if f in formats]


def parse_options(raw: dict | None) -> ExportOptions:
    """Validate options; missing ones take the defaults of :class:`ExportOptions`.

    Raises:
        InvalidInput: naming the bad field.
    """
    raw = raw or {}
    if not isinstance(raw, dict):
        raise InvalidInput("options must be an object.", field="options")
    size = _int(raw, "chip_size", 1024, MIN_CHIP_SIZE, MAX_CHIP_SIZE)
    # Past half the chip size each piece of ground is cut into more than four chips: the
    # chip count (and the export's time and disk) grows with 1 / (size - overlap)², up to
    # one chip per pixel at size - 1.
    max_overlap = size // 2
    overlap = raw.get("chip_overlap", 0)
    if not isinstance(overlap, int) or isinstance(overlap, bool) or not 0 <= overlap <= max_overlap:
        raise InvalidInput(
            f"chip_overlap must be an integer from 0 to {max_overlap} (at most half the chip size of {size} px).",
            field="chip_overlap",
            extra={"limit": max_overlap},
        )
    crs = str(raw.get("crs", "4326")).lower().removeprefix("epsg:")
    if crs not in ("4326", "image"):
        raise InvalidInput('crs must be "4326" or "image".', field="crs")
    splits = raw.get("splits", DEFAULT_SPLITS)
    if (
        not isinstance(splits, dict)
        or not set(splits) <= set(SPLIT_NAMES)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in splits.values())
        or abs(sum(splits.values()) - 1.0) > 1e-6
    ):
        raise InvalidInput("splits must map train/val/test to fractions ≥ 0 that sum to 1.", field="splits")
    include_empty = raw.get("include_empty_chips", False)
    if not isinstance(include_empty, bool):
        raise InvalidInput("include_empty_chips must be true or false.", field="include_empty_chips")
    return ExportOptions(
        regularise=_regularise(raw.get("regularise")),
        chip_size=size,
        chip_overlap=overlap,
        crs=crs,
        splits={name: float(splits.get(name, 0.0)) for name in SPLIT_NAMES},
        seed=_int(raw, "seed", 0, 0, 2**31 - 1),
        block_chips=_int(raw, "block_chips", 4, 1, 1024),
        include_empty_chips=include_empty,
    )


def _regularise(raw) -> dict | None:
    """The ``regularise`` option checked (whether the class is the project's is checked
    when the export is created, see :func:`check_regularise_class`)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput('regularise must be an object such as {"label_class": 3}, or null.', field="regularise")
    label_class = raw.get("label_class")
    if not isinstance(label_class, int) or isinstance(label_class, bool):
        raise InvalidInput("regularise.label_class must be the id of a label class.", field="regularise")
    if extra := sorted(set(raw) - {"label_class", "allow_45", "tolerance_m"}):
        raise InvalidInput(f"regularise has unknown keys: {', '.join(extra)}.", field="regularise")
    options = regularisation.parse_options({k: v for k, v in raw.items() if k != "label_class"})
    return {"label_class": label_class, **options.as_json()}


def check_regularise_class(project: Project, options: ExportOptions) -> None:
    """Raise InvalidInput when the class to regularise is not one of ``project``'s."""
    if options.regularise is None:
        return
    if not LabelClass.objects.filter(project=project, pk=options.regularise["label_class"]).exists():
        raise InvalidInput(
            f"Label class {options.regularise['label_class']} is not in this project.", field="regularise"
        )


def options_from_json(data: dict) -> ExportOptions:
    """Rebuild options stored by :meth:`ExportOptions.as_json`."""
    return ExportOptions(**data)
