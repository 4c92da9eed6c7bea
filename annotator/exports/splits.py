"""Train/validation/test splits by spatial blocks, so that nothing leaks between splits.

1. **Blocks on the ground**: the world is cut into a grid of blocks in EPSG:4326, each
   ``block_chips`` chips wide and high (chip size taken from the first chip); a chip
   belongs to the block holding its centre. Neighbouring chips of one block, and chips
   of different images of the same place, share a block and so a split.
2. **Blocks to splits**: block keys are sorted, shuffled with ``random.Random(seed)``, and
   each block goes to the split furthest below its target share of chips.
3. **Guard chips**: where two chips of different splits share ground (chip overlap, edge
   chips shifted inward, overlapping images), the later chip of the pair (by image id,
   row, column) is left out of the dataset, so no pixel of the ground is in two splits.

The same chips, fractions and seed give the same assignment.
"""

from __future__ import annotations

import math
import random

import shapely

from annotator.exports.chips import Chip

# Ground overlaps smaller than this fraction of the smaller chip are numerical noise of
# reprojected shared edges, not shared ground.
OVERLAP_TOLERANCE = 1e-6


def _key(chip: Chip) -> tuple[int, int, int]:
    return chip.image_id, chip.row_off, chip.col_off


def block_keys(chips: list[Chip], block_chips: int) -> list[tuple[int, int]]:
    """The ground block (column, row) of each chip: blocks are ``block_chips`` chips on a side.

    Block edges are in degrees (EPSG:4326), from the extent of the first chip in key order.
    """
    if not chips:
        return []
    first = min(chips, key=_key)
    west, south, east, north = first.footprint.bounds
    width, height = (east - west) * block_chips, (north - south) * block_chips
    keys = []
    for chip in chips:
        centre = chip.footprint.centroid
        keys.append((math.floor((centre.x + 180.0) / width), math.floor((centre.y + 90.0) / height)))
    return keys


def guard_pairs(chips: list[Chip]) -> list[tuple[int, int]]:
    """Index pairs (i, j) of chips in different splits that share ground, in key order."""
    if len(chips) < 2:
        return []
    footprints = [chip.footprint for chip in chips]
    left, right = shapely.STRtree(footprints).query(footprints, predicate="intersects")
    pairs = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        a, b = chips[i], chips[j]
        if i == j or a.split == b.split or _key(a) > _key(b):
            continue
        smaller = min(a.footprint.area, b.footprint.area)
        if shapely.intersection(a.footprint, b.footprint).area > OVERLAP_TOLERANCE * smaller:
            pairs.append((i, j))
    return sorted(pairs, key=lambda p: (_key(chips[p[0]]), _key(chips[p[1]])))


def assign_splits(chips: list[Chip], fractions: dict[str, float], seed: int, block_chips: int) -> dict[str, int]:
    """Set ``chip.split`` on every chip and ``chip.guard`` on the chips left out.

    Args:
        chips: every chip of the export (any images).
        fractions: ``{"train": f, "val": f, "test": f}`` summing to 1; splits with 0 get none.
        seed: seed of the shuffle.
        block_chips: block edge, in chips.
    Returns:
        chips kept per split, and ``"guard"``: chips left out.
    """
    names = [name for name, fraction in fractions.items() if fraction > 0]
    members: dict[tuple[int, int], list[int]] = {}
    for i, key in enumerate(block_keys(chips, block_chips)):
        members.setdefault(key, []).append(i)
    order = sorted(members)
    random.Random(seed).shuffle(order)  # noqa: S311 - a reproducible shuffle, not a secret
    total = len(chips)
    assigned = dict.fromkeys(fractions, 0)
    for key in order:
        split = max(names, key=lambda name: (fractions[name] * total - assigned[name], -names.index(name)))
        for i in members[key]:
            chips[i].split = split
            chips[i].guard = False
        assigned[split] += len(members[key])
    for i, j in guard_pairs(chips):
        if not chips[i].guard and not chips[j].guard:
            chips[j].guard = True
    counts = dict.fromkeys(fractions, 0)
    for chip in chips:
        if not chip.guard:
            counts[chip.split] += 1
    counts["guard"] = sum(chip.guard for chip in chips)
    return counts
