"""YOLO segmentation labels (Ultralytics layout): ``labels/<split>/<chip>.txt`` and ``data.yaml``.

One line per polygon: ``class x1 y1 x2 y2 ...`` with the class index from 0 and vertex
coordinates divided by the chip size, so they lie in [0, 1] (x = col, y = row). YOLO
polygons have no holes: an object's holes are dropped (COCO and the masks keep them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from annotator.exports.chips import Chip
from annotator.exports.coco import ChipObject, polygons_of
from annotator.exports.options import SPLIT_NAMES


def label_lines(objects: list[ChipObject], size: int) -> list[str]:
    """Label lines of one chip; ``category_id`` 1 becomes YOLO class 0."""
    lines = []
    for obj in objects:
        for polygon in polygons_of(obj.geometry):
            coords = np.clip(np.asarray(polygon.exterior.coords)[:-1] / size, 0.0, 1.0)
            numbers = " ".join(f"{v:.6f}" for v in coords.ravel())
            lines.append(f"{obj.category_id - 1} {numbers}")
    return lines


def write_labels(out_dir: Path, chip: Chip, objects: list[ChipObject]) -> str:
    """Write the label file of one chip (empty for a chip without objects); returns its relative path."""
    relative = f"labels/{chip.split}/{chip.name}.txt"
    path = out_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = label_lines(objects, chip.size)
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return relative


def write_data_yaml(out_dir: Path, class_names: list[str]) -> str:
    """``data.yaml``: dataset root, the image folder of each split and class names by index.

    Every split (train, val, test) is named, even one that received no chips: Ultralytics
    needs ``train`` and ``val`` to read the file, and ``yolo val split=test`` needs ``test``.
    An empty split has no folder in the archive (the export's summary counts its chips).
    """
    data: dict[str, object] = {"path": "."}
    for split in SPLIT_NAMES:
        data[split] = f"images/{split}"
    data["names"] = dict(enumerate(class_names))
    data["nc"] = len(class_names)
    (out_dir / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return "data.yaml"
