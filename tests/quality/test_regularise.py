"""Building regularisation: squared corners, touching buildings that stay touching, the 45°
option, the API's refusals and the export option.

Shapes are drawn in metres in UTM zone 14 (EPSG:32614, the test image's area), traced with
seeded noise the way a hand or SAM2 outline wobbles, and checked against the noise-free
truth; the API tests move them to EPSG:4326 with pyproj.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
import shapely.affinity
from pyproj import Transformer
from shapely.geometry import Polygon

from tests.support.workflow import CENTRE

UTM = "EPSG:32614"
TO_UTM = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
TO_4326 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
ORIGIN = TO_UTM.transform(*CENTRE)  # metres, the test image's centre


def traced(truth: Polygon, seed: int, sigma_m: float = 0.15, spacing_m: float = 0.5) -> Polygon:
    """``truth`` as a wobbly outline: a vertex every ``spacing_m``, each moved by Gaussian noise."""
    rng = np.random.default_rng(seed)
    xy = np.asarray(truth.exterior.segmentize(spacing_m).coords)[:-1]
    return Polygon(xy + rng.normal(0.0, sigma_m, xy.shape)).buffer(0)


def placed(polygon: Polygon, angle_deg: float) -> Polygon:
    """A shape drawn around (0, 0) turned by ``angle_deg`` and moved to the image's centre (UTM)."""
    turned = shapely.affinity.rotate(polygon, angle_deg, origin=(0, 0))
    return shapely.affinity.translate(turned, *ORIGIN)


def edge_angles(polygon: Polygon) -> np.ndarray:
    d = np.diff(np.asarray(polygon.exterior.coords), axis=0)
    return np.degrees(np.arctan2(d[:, 1], d[:, 0]))


def off_right_angle(angles: np.ndarray, orientation: float, step: float = 90.0) -> float:
    """The largest angle (degrees) between an edge and the truth's directions (orientation + k·step)."""
    rest = (angles - orientation) % step
    return float(np.minimum(rest, step - rest).max())


def iou(a, b) -> float:
    return a.intersection(b).area / a.union(b).area


def to_geojson_4326(polygon: Polygon) -> dict:
    moved = shapely.transform(polygon, lambda xy: np.column_stack(TO_4326.transform(xy[:, 0], xy[:, 1])))
    return json.loads(shapely.to_geojson(moved))


def to_utm(geometry) -> shapely.Geometry:
    return shapely.transform(geometry, lambda xy: np.column_stack(TO_UTM.transform(xy[:, 0], xy[:, 1])))


# --- the geometry ----------------------------------------------------------------------


def test_a_noisy_rectangle_becomes_a_rectangle_that_matches_the_truth():
    from annotator.quality.regularise import regularise_footprints

    truth = placed(Polygon([(0, 0), (20, 0), (20, 12), (0, 12)]), 23.4)
    result = regularise_footprints([traced(truth, seed=1)])[0]

    assert len(result.geometry.exterior.coords) == 5  # four corners, closed
    assert iou(result.geometry, truth) >= 0.9
    assert off_right_angle(edge_angles(result.geometry), 23.4) <= 2.0
    assert result.max_angle_deviation_deg < 1e-6
    assert result.iou >= 0.9
    print(
        f"rectangle: IoU with truth {iou(result.geometry, truth):.3f}, orientation {result.orientation_deg:.2f}° "
        f"(truth 23.40°), IoU with the traced input {result.iou:.3f}"
    )


# Two L-shaped buildings that interlock: B fills A's notch, they share the wall
# (10, 0)-(10, 4)-(5, 4)-(5, 10), 15 m long with a corner.
L_A = Polygon([(0, 0), (10, 0), (10, 4), (5, 4), (5, 10), (0, 10)])
L_B = Polygon([(5, 4), (10, 4), (10, 0), (16, 0), (16, 10), (5, 10)])


def seam_defects(a, b, truth_a, truth_b) -> tuple[shapely.Geometry, shapely.Geometry]:
    """Gap and overlap of ``a`` and ``b`` along the wall their truths share: within 0.5 m of
    it, more than 1 m from the outer walls (where the outline is free to move)."""
    wall = truth_a.boundary.intersection(truth_b.boundary)
    outer = shapely.union(truth_a, truth_b).exterior
    seam = wall.buffer(0.5).difference(outer.buffer(1.0))
    gap = seam.difference(shapely.union(a, b))
    overlap = seam.intersection(a).intersection(b)
    return gap, overlap


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_two_touching_l_shaped_buildings_stay_touching_with_no_gap_or_overlap_over_a_tenth_of_a_metre(seed):
    from annotator.quality.regularise import regularise_footprints

    truth_a, truth_b = placed(L_A, 31.0), placed(L_B, 31.0)
    a, b = regularise_footprints([traced(truth_a, seed), traced(truth_b, seed + 100)])

    gap, overlap = seam_defects(a.geometry, b.geometry, truth_a, truth_b)
    # Nothing wider than 0.1 m: a negative buffer of half of it leaves nothing.
    assert gap.buffer(-0.05).is_empty, f"gap of {gap.area:.3f} m²"
    assert overlap.buffer(-0.05).is_empty, f"overlap of {overlap.area:.3f} m²"
    assert a.group == b.group and a.orientation_deg == b.orientation_deg
    shared = a.geometry.boundary.intersection(b.geometry.boundary).length
    assert shared >= 0.9 * 15.0
    for result, truth in ((a, truth_a), (b, truth_b)):
        assert len(result.geometry.exterior.coords) == 7  # an L: six corners
        assert iou(result.geometry, truth) >= 0.85
        assert off_right_angle(edge_angles(result.geometry), 31.0) <= 2.0
    print(
        f"L pair seed {seed}: gap {gap.area:.4f} m², overlap {overlap.area:.4f} m², shared wall {shared:.2f} m, "
        f"IoU with truth {iou(a.geometry, truth_a):.3f} / {iou(b.geometry, truth_b):.3f}"
    )


def test_each_building_regularised_alone_by_the_library_would_open_the_seam():
    """Why the group part exists: each building squared on its own (the library's own
    pipeline, in the 45° mode with a diagonal zone of width 0, i.e. right angles only)
    leaves gaps or overlaps along the wall they share."""
    from buildingregulariser.regularization import regularize_single_polygon

    truth_a, truth_b = placed(L_A, 31.0), placed(L_B, 31.0)
    alone = [
        regularize_single_polygon(traced(t, seed), 1.0, True, 22.5, False, 0.9, True, 0.5)[0]["geometry"]
        for t, seed in ((truth_a, 3), (truth_b, 103))
    ]
    gap, overlap = seam_defects(*alone, truth_a, truth_b)
    print(f"L pair, each alone: gap {gap.area:.3f} m², overlap {overlap.area:.3f} m²")
    assert not (gap.buffer(-0.05).is_empty and overlap.buffer(-0.05).is_empty)


def test_the_45_degree_option_keeps_a_cut_corner_that_the_default_squares():
    from annotator.quality.regularise import RegulariseOptions, regularise_footprints

    # A 16 x 12 m building with its corner cut at 45° over 5 m.
    truth = placed(Polygon([(0, 0), (16, 0), (16, 7), (11, 12), (0, 12)]), 12.0)
    noisy = traced(truth, seed=7)

    squared = regularise_footprints([noisy])[0]
    cut = regularise_footprints([noisy], RegulariseOptions(allow_45=True))[0]

    assert off_right_angle(edge_angles(squared.geometry), 12.0) <= 2.0
    squared_diagonal = np.abs(((edge_angles(squared.geometry) - 12.0) % 90) - 45) < 5
    assert not squared_diagonal.any()
    diagonal = np.abs(((edge_angles(cut.geometry) - 12.0) % 90) - 45) < 2.0
    assert diagonal.sum() == 1
    assert off_right_angle(edge_angles(cut.geometry), 12.0, step=45.0) <= 2.0
    assert cut.max_angle_deviation_deg < 1e-6
    assert iou(cut.geometry, truth) > iou(squared.geometry, truth)
    assert iou(cut.geometry, truth) >= 0.9
    print(f"cut corner: IoU with truth {iou(cut.geometry, truth):.3f} (45°) vs {iou(squared.geometry, truth):.3f}")


def test_bad_options_are_refused_with_the_field_named():
    from annotator.errors import InvalidInput
    from annotator.quality.regularise import parse_options

    assert parse_options({"allow_45": True, "tolerance_m": 1}).tolerance_m == 1.0
    for bad, field in (({"allow_45": "yes"}, "allow_45"), ({"tolerance_m": 0}, "tolerance_m")):
        with pytest.raises(InvalidInput) as refused:
            parse_options(bad)
        assert refused.value.field == field


# --- the API ---------------------------------------------------------------------------


@pytest.fixture
def buildings(cast, image):
    """The two interlocking L-shaped buildings as the annotator's drafts (EPSG:4326)."""
    from annotator.workflow import annotations

    truth = placed(L_A, 31.0), placed(L_B, 31.0)
    rows = [
        annotations.create_annotation(image, cast.annotator, to_geojson_4326(traced(t, seed)))
        for t, seed in zip(truth, (3, 103), strict=True)
    ]
    return rows, truth


def regularise(client, cast, items, **options):
    return client.post(
        f"/api/v1/projects/{cast.project.pk}/annotations/regularise/", {"annotations": items, **options}, format="json"
    )


@pytest.mark.django_db
def test_an_annotator_regularises_their_buildings_and_each_gets_a_new_version_with_its_figures(
    cast, buildings, client_for
):
    from annotator.models import Annotation

    (a, b), (truth_a, truth_b) = buildings
    response = regularise(client_for(cast.annotator), cast, [{"id": a.pk, "version": 1}, {"id": b.pk}])

    assert response.status_code == 200, response.content
    body = response.json()
    assert [f["id"] for f in body["figures"]] == [a.pk, b.pk]
    for figure in body["figures"]:
        assert figure["version"] == 2 and figure["changed"] is True
        assert 0.85 <= figure["iou"] <= 1.0
        assert figure["max_angle_deviation_deg"] < 0.01
    assert [f["properties"]["version"] for f in body["annotations"]] == [2, 2]
    saved_a, saved_b = (to_utm(shapely.from_wkb(bytes(Annotation.objects.get(pk=x.pk).geometry.wkb))) for x in (a, b))
    assert iou(saved_a, truth_a) >= 0.85 and iou(saved_b, truth_b) >= 0.85
    # Saved in EPSG:4326 and read back in UTM, the shared wall still holds.
    gap, overlap = seam_defects(saved_a, saved_b, truth_a, truth_b)
    assert gap.buffer(-0.05).is_empty and overlap.buffer(-0.05).is_empty
    assert Annotation.objects.get(pk=a.pk).versions.count() == 2


@pytest.mark.django_db
def test_buildings_regularised_one_at_a_time_still_share_their_wall(cast, buildings, client_for):
    """The second building, alone in its request, snaps onto the first (already regular)
    instead of being squared on its own."""
    from annotator.models import Annotation

    (a, b), (truth_a, truth_b) = buildings
    client = client_for(cast.annotator)
    assert regularise(client, cast, [{"id": a.pk}]).status_code == 200
    second = regularise(client, cast, [{"id": b.pk}])

    assert second.status_code == 200, second.content
    saved_a, saved_b = (to_utm(shapely.from_wkb(bytes(Annotation.objects.get(pk=x.pk).geometry.wkb))) for x in (a, b))
    gap, overlap = seam_defects(saved_a, saved_b, truth_a, truth_b)
    assert gap.buffer(-0.05).is_empty, f"gap of {gap.area:.3f} m²"
    assert overlap.buffer(-0.05).is_empty, f"overlap of {overlap.area:.3f} m²"
    assert Annotation.objects.get(pk=a.pk).version == 2  # the first one was not touched again
    print(f"one at a time: gap {gap.area:.4f} m², overlap {overlap.area:.4f} m²")


@pytest.mark.django_db
def test_a_viewer_may_not_regularise(cast, buildings, client_for):
    (a, _b), _truth = buildings
    response = regularise(client_for(cast.viewer), cast, [{"id": a.pk}])
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


@pytest.mark.django_db
def test_an_approved_annotation_is_refused_for_its_author_and_nothing_is_written(cast, buildings, client_for):
    from annotator.models import Annotation
    from annotator.workflow import review

    (a, b), _truth = buildings
    review.transition(a.pk, "submit", cast.annotator)
    review.transition(a.pk, "approve", cast.reviewer)

    response = regularise(client_for(cast.annotator), cast, [{"id": b.pk}, {"id": a.pk}], allow_45=True)

    assert response.status_code == 409
    assert response.json()["code"] == "locked_for_review"
    assert Annotation.objects.get(pk=b.pk).version == 1  # all or nothing


@pytest.mark.django_db
def test_a_stale_version_and_bad_options_are_refused(cast, buildings, client_for):
    (a, _b), _truth = buildings
    client = client_for(cast.annotator)
    stale = regularise(client, cast, [{"id": a.pk, "version": 7}])
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    bad = regularise(client, cast, [{"id": a.pk}], tolerance_m=50)
    assert bad.status_code == 400 and bad.json()["field"] == "tolerance_m"


# --- the export option -----------------------------------------------------------------


@pytest.mark.django_db
def test_an_export_can_regularise_the_footprints_of_one_class_and_reports_them_in_the_manifest(cast, image, tmp_path):
    from annotator.models import LabelClass
    from annotator.workflow import annotations
    from tests.support.exports import build_sync, unzip

    building = LabelClass.objects.create(project=cast.project, name="building")
    field = LabelClass.objects.create(project=cast.project, name="field")
    truth = placed(Polygon([(0, 0), (20, 0), (20, 12), (0, 12)]), 23.4)
    house = annotations.create_annotation(
        image, cast.annotator, to_geojson_4326(traced(truth, seed=1)), label_class_id=building.pk
    )
    pasture = annotations.create_annotation(
        image,
        cast.annotator,
        to_geojson_4326(traced(shapely.affinity.translate(truth, 60, 0), seed=2)),
        label_class_id=field.pk,
    )

    export = build_sync(
        cast.project,
        cast.owner,
        ["geojson"],
        filters={"states": ["draft"]},
        options={"regularise": {"label_class": building.pk, "tolerance_m": 0.5}},
    )
    unzip(export, tmp_path)

    features = json.loads((tmp_path / "gis" / "annotations.geojson").read_text())["features"]
    by_id = {f["id"]: shapely.geometry.shape(f["geometry"]) for f in features}
    house_out = to_utm(by_id[house.pk])
    assert [len(p.exterior.coords) for p in shapely.get_parts(house_out)] == [5]
    assert iou(house_out, truth) >= 0.9
    # The other class is exported as stored.
    assert shapely.equals_exact(by_id[pasture.pk], shapely.from_wkb(bytes(pasture.geometry.wkb)), 1e-9)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    report = manifest["regularisation"]
    assert report["label_class"] == building.pk and report["footprints"] == 1
    assert report["annotations"][0]["id"] == house.pk
    assert report["annotations"][0]["iou"] >= 0.9
    assert report["max_angle_deviation_deg"] < 0.01


@pytest.mark.django_db
def test_an_export_refuses_to_regularise_a_class_of_another_project(cast, image):
    from annotator.errors import InvalidInput
    from annotator.exports import create_export
    from annotator.models import LabelClass

    elsewhere = LabelClass.objects.create(project=cast.other_project, name="building")
    with pytest.raises(InvalidInput) as refused:
        create_export(cast.project, cast.owner, ["geojson"], options={"regularise": {"label_class": elsewhere.pk}})
    assert refused.value.field == "regularise"


@pytest.mark.django_db
def test_an_export_regularises_the_footprints_in_its_coco_chips_too(cast, ingested_image, tmp_path):
    """The chips read the same regularised outlines as the GIS files."""
    from annotator.models import LabelClass
    from tests.support.exports import NAIP, approved, build_sync, unzip

    image = ingested_image(NAIP)  # 5 m pixels: a 60 x 40 px building is 300 x 200 m
    building = LabelClass.objects.create(project=cast.project, name="building")
    truth = shapely.affinity.rotate(Polygon([(300, 300), (360, 300), (360, 340), (300, 340)]), 17, origin=(330, 320))
    rng = np.random.default_rng(9)
    xy = np.asarray(truth.exterior.segmentize(0.5).coords)[:-1]
    noisy = Polygon(xy + rng.normal(0, 0.15, xy.shape)).buffer(0)  # pixels: 0.75 m of noise
    annotation = approved(image, cast, noisy, building)

    export = build_sync(
        cast.project,
        cast.owner,
        ["coco"],
        options={"chip_size": 512, "regularise": {"label_class": building.pk, "tolerance_m": 2.0}},
    )
    unzip(export, tmp_path)

    entries = [
        entry
        for path in sorted((tmp_path / "coco").glob("instances_*.json"))
        for entry in json.loads(path.read_text())["annotations"]
    ]
    rings = [ring for entry in entries for ring in entry["segmentation"]]
    assert rings and all(len(ring) == 8 for ring in rings), [len(r) for r in rings]  # four corners: 8 numbers
    assert (
        json.loads((tmp_path / "manifest.json").read_text())["regularisation"]["annotations"][0]["id"] == annotation.pk
    )
