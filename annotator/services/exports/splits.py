"""Train/validation/test splits by spatial blocks, so that nothing leaks between splits.

Chips are grouped, and every group goes to one split:

1. **Blocks**: the chips of ``block_chips`` x ``block_chips`` neighbouring grid cells of one
   image form a block (neighbours inside a block always share a split).
2. **Overlap**: two chips that share any pixel of one image (chip overlap, edge chips shifted
   inward) or any ground area (different images of the same place, compared through their
   EPSG:4326 footprints) are put in the same group, transitively (union-find).

Groups are shuffled with ``random.Random(seed)`` after a stable sort, then each group goes to
the split furthest below its target share of chips. The same chips, fractions and seed
give the same assignment.
"""

from __future__ import annotations

import random

import shapely

from annotator.services.exports.chips import Chip

# Ground overlaps smaller than this fraction of the smaller chip are numerical noise of
# reprojected shared edges, not shared ground.
OVERLAP_TOLERANCE = 1e-6


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _pixels_overlap(a: Chip, b: Chip) -> bool:
    ac0, ar0, ac1, ar1 = a.pixel_box
    bc0, br0, bc1, br1 = b.pixel_box
    return ac0 < bc1 and bc0 < ac1 and ar0 < br1 and br0 < ar1


def chip_groups(chips: list[Chip], block_chips: int) -> list[list[int]]:
    """Indexes of ``chips`` grouped by block and overlap (see the module docstring).

    Returns groups sorted by their first chip's (image id, row, col); each group sorted.
    """
    order = sorted(range(len(chips)), key=lambda i: (chips[i].image_id, chips[i].row_off, chips[i].col_off))
    uf = _UnionFind(len(chips))
    blocks: dict[tuple[int, int, int], int] = {}
    for i in order:
        chip = chips[i]
        key = (chip.image_id, chip.grid_row // block_chips, chip.grid_col // block_chips)
        uf.union(blocks.setdefault(key, i), i)
    if len(chips) > 1:
        footprints = [chip.footprint for chip in chips]
        tree = shapely.STRtree(footprints)
        left, right = tree.query(footprints, predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            if i >= j or uf.find(i) == uf.find(j):
                continue
            a, b = chips[i], chips[j]
            if a.image_id == b.image_id:
                shared = _pixels_overlap(a, b)
            else:
                smaller = min(a.footprint.area, b.footprint.area)
                shared = shapely.intersection(a.footprint, b.footprint).area > OVERLAP_TOLERANCE * smaller
            if shared:
                uf.union(i, j)
    groups: dict[int, list[int]] = {}
    for i in order:
        groups.setdefault(uf.find(i), []).append(i)
    position = {i: k for k, i in enumerate(order)}
    return sorted(groups.values(), key=lambda members: position[members[0]])


def assign_splits(chips: list[Chip], fractions: dict[str, float], seed: int, block_chips: int) -> dict[str, int]:
    """Set ``chip.split`` on every chip; returns chips per split.

    Args:
        chips: every chip of the export (any images).
        fractions: ``{"train": f, "val": f, "test": f}`` summing to 1; splits with 0 get none.
        seed: seed of the shuffle.
        block_chips: block edge in chips.
    """
    names = [name for name, fraction in fractions.items() if fraction > 0]
    groups = chip_groups(chips, block_chips)
    random.Random(seed).shuffle(groups)  # noqa: S311 - a reproducible shuffle, not a secret
    total = len(chips)
    assigned = dict.fromkeys(fractions, 0)
    for members in groups:
        split = max(names, key=lambda name: (fractions[name] * total - assigned[name], -names.index(name)))
        for i in members:
            chips[i].split = split
        assigned[split] += len(members)
    return assigned
