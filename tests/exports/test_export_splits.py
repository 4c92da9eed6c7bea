"""Spatially blocked splits: deterministic per seed, nothing shared between splits."""

from __future__ import annotations

import zipfile

import pytest
import shapely

from annotator.exports.chips import plan_chips
from annotator.exports.splits import assign_splits, block_keys
from tests.support.exports import NAIP, approved, blob, build_sync

# A UTM 14N scene of 2,000 x 1,500 px at 5 m (EPSG:26914), as ingest records it.
GEOTRANSFORM = [500000.0, 5.0, 0.0, 5210000.0, 0.0, -5.0]
FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def _image(project, name: str, geotransform=GEOTRANSFORM, width: int = 2000, height: int = 1500):
    from annotator.choices import ImageStatus
    from annotator.models import Image

    return Image.objects.create(
        project=project,
        name=name,
        status=ImageStatus.READY,
        width=width,
        height=height,
        epsg=26914,
        crs_wkt="",
        geotransform=geotransform,
    )


def _plan(images, size: int = 128, overlap: int = 32):
    return [chip for image in images for chip in plan_chips(image, size, overlap)]


def _splits(chips) -> dict[tuple[int, int, int], str]:
    return {(c.image_id, c.row_off, c.col_off): c.split for c in chips}


@pytest.mark.django_db
def test_the_same_chips_and_seed_give_the_same_split_and_another_seed_another(cast):
    image = _image(cast.project, "a.tif")
    first, again, other = _plan([image]), _plan([image]), _plan([image])
    assign_splits(first, FRACTIONS, seed=7, block_chips=3)
    assign_splits(again, FRACTIONS, seed=7, block_chips=3)
    assign_splits(other, FRACTIONS, seed=8, block_chips=3)
    assert _splits(first) == _splits(again)
    assert _splits(first) != _splits(other)
    assert set(_splits(first).values()) == {"train", "val", "test"}


@pytest.mark.django_db
def test_no_ground_is_shared_between_splits_and_blocks_stay_whole(cast):
    # Two images: the second is the same place shifted by 1,000 m, so their chips overlap on the ground.
    shifted = [GEOTRANSFORM[0] + 1000.0, *GEOTRANSFORM[1:3], GEOTRANSFORM[3] - 1000.0, *GEOTRANSFORM[4:]]
    images = [_image(cast.project, "a.tif"), _image(cast.project, "b.tif", shifted, 900, 700)]
    chips = _plan(images, size=128, overlap=32)
    counts = assign_splits(chips, FRACTIONS, seed=1, block_chips=3)

    kept = [c for c in chips if not c.guard]
    assert sum(counts[name] for name in FRACTIONS) == len(kept) and counts["guard"] == len(chips) - len(kept)
    for name, fraction in FRACTIONS.items():
        assert abs(counts[name] / len(kept) - fraction) < 0.1, counts
    footprints = [c.footprint for c in kept]
    left, right = shapely.STRtree(footprints).query(footprints, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        a, b = kept[i], kept[j]
        if a.split != b.split:
            overlap = shapely.intersection(a.footprint, b.footprint).area
            assert overlap <= 1e-6 * a.footprint.area, (a.name, b.name)
    splits_of_block: dict[tuple[int, int], set[str]] = {}
    for chip, key in zip(chips, block_keys(chips, 3), strict=True):
        splits_of_block.setdefault(key, set()).add(chip.split)
    assert all(len(splits) == 1 for splits in splits_of_block.values())


@pytest.mark.django_db
def test_guard_chips_are_left_out_only_where_splits_meet(cast):
    image = _image(cast.project, "a.tif")
    chips = _plan([image], size=128, overlap=32)
    counts = assign_splits(chips, FRACTIONS, seed=2, block_chips=4)
    guards = [c for c in chips if c.guard]
    assert 0 < counts["guard"] == len(guards) < len(chips) / 2
    for guard in guards:
        assert any(
            other.split != guard.split and shapely.intersection(other.footprint, guard.footprint).area > 0
            for other in chips
            if not other.guard
        )
    # Without overlap and with the grid fitting the image, chips only touch: nothing is left out.
    square = _image(cast.project, "b.tif", width=1280, height=1024)
    chips = _plan([square], size=128, overlap=0)
    assert assign_splits(chips, FRACTIONS, seed=2, block_chips=4)["guard"] == 0


@pytest.mark.django_db
def test_an_export_puts_each_chip_in_the_same_split_every_time(cast, ingested_image):
    image = ingested_image(NAIP)
    for k, (cx, cy) in enumerate([(60, 60), (200, 300), (500, 100), (800, 600), (400, 650), (880, 60)]):
        approved(image, cast, blob(cx, cy, 40, seed=k))
    options = {"chip_size": 128, "seed": 5, "block_chips": 2, "include_empty_chips": True}

    def chip_files(export) -> list[str]:
        from annotator.storage import get_storage

        with get_storage().open_read(export.archive_key) as stream, zipfile.ZipFile(stream) as archive:
            return sorted(n for n in archive.namelist() if n.startswith("images/"))

    first = build_sync(cast.project, cast.owner, ["yolo"], options=options)
    second = build_sync(cast.project, cast.owner, ["yolo"], options=options)
    assert chip_files(first) == chip_files(second)
    assert first.counts["chips"] == second.counts["chips"]
    # NAIP at 128 px: 8 x 6 chips, the last column and row shifted inward (guards where splits meet).
    assert sum(first.counts["chips"].values()) + first.counts["guard_chips"] == 8 * 6
    assert sum(first.counts["chips"].values()) == len(chip_files(first))
