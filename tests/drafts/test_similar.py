"""Find similar's prototype, similarity and peaks against references computed cell by cell."""

from __future__ import annotations

import math

import numpy as np
import shapely

from annotator.drafts import similar


def test_the_prototype_and_the_similarity_match_a_hand_computed_reference():
    rng = np.random.default_rng(15)
    embed = rng.normal(size=(256, 64, 64)).astype(np.float32)
    other = rng.normal(size=(256, 64, 64)).astype(np.float32)
    # Window pixels x 32..96, y 48..80: cell centres 16 j + 8 inside for j = 2..5, i = 3..4.
    first = shapely.box(32, 48, 96, 80)
    # A polygon smaller than a cell, holding no centre: the cell under it (row 10, col 20).
    second = shapely.box(322, 162, 326, 166)

    cells = [similar.cells_inside(first, 1024, 1024), similar.cells_inside(second, 1024, 1024)]
    proto = similar.prototype([embed, other], cells)

    assert sorted(zip(*np.nonzero(cells[0]), strict=True)) == [(i, j) for i in (3, 4) for j in (2, 3, 4, 5)]
    assert list(zip(*np.nonzero(cells[1]), strict=True)) == [(10, 20)]
    vectors = [[float(embed[c, i, j]) for c in range(256)] for i in (3, 4) for j in (2, 3, 4, 5)]
    vectors.append([float(other[c, 10, 20]) for c in range(256)])
    reference = [sum(v[c] for v in vectors) / len(vectors) for c in range(256)]
    assert np.allclose(proto, reference, atol=1e-9)

    sim = similar.similarity(embed, proto)
    for i, j in [(0, 0), (3, 2), (40, 63), (63, 17)]:
        cell = [float(embed[c, i, j]) for c in range(256)]
        dot = sum(a * b for a, b in zip(cell, reference, strict=True))
        cosine = dot / (math.sqrt(sum(a * a for a in cell)) * math.sqrt(sum(b * b for b in reference)))
        assert math.isclose(sim[i, j], cosine, abs_tol=1e-9)
    # The example's own cells are nearer the prototype than the image at large.
    assert sim[3:5, 2:6].mean() > sim.mean() + 0.1


def test_peaks_are_local_maxima_above_the_threshold_with_suppression():
    sim = np.zeros((64, 64))
    sim[10, 10], sim[10, 12] = 0.95, 0.90  # the second lies within 2 cells of the first
    sim[40, 40] = 0.85
    sim[50, 50] = 0.70  # below the threshold
    sim[60, 5] = 0.99  # not allowed (outside the area)
    allowed = np.ones((64, 64), dtype=bool)
    allowed[60, 5] = False

    found = similar.peaks(sim, threshold=0.8, radius=2, allowed=allowed)

    assert found.tolist() == [[10, 10, 0.95], [40, 40, 0.85]]
    assert similar.peak_points(found).tolist() == [[168.0, 168.0], [648.0, 648.0]]
