"""Vector import round trips: GeoJSON, GeoPackage and zipped Shapefile, each in a projected CRS."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.support.vectors import INSIDE_A, INSIDE_B, OVERHANG, write_vector, zip_shapefile
from tests.support.workflow import FOOTPRINT


@pytest.fixture
def classes(cast):
    from annotator.models import LabelClass

    return {name: LabelClass.objects.create(project=cast.project, name=name) for name in ("building", "barn", "water")}


def post_import(client, cast, image, path: Path, **options):
    with open(path, "rb") as fh:
        upload = SimpleUploadedFile(path.name, fh.read())
    return client.post(
        f"/api/v1/projects/{cast.project.pk}/imports/",
        {"file": upload, "image": image.pk, **options},
        format="multipart",
    )


def run_queued_import(job_id: int):
    """Run the import task in this process, as the worker would (the broker is not involved)."""
    from annotator.models import Job
    from tasks.jobs import run_job_task

    run_job_task(job_id)
    return Job.objects.get(pk=job_id)


def check_round_trip(cast, image, classes):
    from annotator.models import Annotation

    imported = {a.label_class.name if a.label_class else None: a for a in Annotation.objects.filter(image=image)}
    assert set(imported) == {"building", "barn", "water"}
    assert all(a.state == "draft" and a.source == "import" and a.author == cast.owner for a in imported.values())
    for name, original in (("building", INSIDE_A), ("barn", INSIDE_B)):
        stored = shapely.from_wkb(bytes(imported[name].geometry.wkb))
        # reprojection round trip: within a millimetre or so
        assert shapely.hausdorff_distance(stored, original) < 1e-8
    clipped = shapely.from_wkb(bytes(imported["water"].geometry.wkb))
    assert clipped.bounds[0] == pytest.approx(FOOTPRINT[0])
    assert clipped.area == pytest.approx(OVERHANG.area / 2, rel=1e-6)
    assert all(a.versions.get().action == "imported" for a in imported.values())


CLASS_OPTIONS = {"class_attribute": "kind", "class_map": '{"house": "building", "pond": "water"}'}


@pytest.mark.parametrize(
    ("file_name", "driver", "epsg"),
    [("buildings.geojson", "GeoJSON", 3857), ("buildings.gpkg", "GPKG", 26914)],
)
def test_a_file_in_a_projected_crs_becomes_clipped_drafts_mapped_to_classes(
    cast,
    image,
    classes,
    client_for,
    tmp_path,
    django_capture_on_commit_callbacks,
    file_name,
    driver,
    epsg,
):
    path = write_vector(tmp_path / file_name, driver, epsg)
    with django_capture_on_commit_callbacks(execute=False):
        response = post_import(client_for(cast.owner), cast, image, path, **CLASS_OPTIONS)
    assert response.status_code == 201, response.content
    assert response.json()["job"]["status"] == "queued"

    job = run_queued_import(response.json()["job"]["id"])

    assert job.status == "succeeded", job.error
    assert job.message.startswith(f"3 draft(s) created from EPSG:{epsg}; 1 feature(s) outside the image skipped")
    check_round_trip(cast, image, classes)
    detail = client_for(cast.viewer).get(f"/api/v1/projects/{cast.project.pk}/imports/{response.json()['id']}/").json()
    assert (detail["created_count"], detail["skipped_count"], detail["job"]["status"]) == (3, 1, "succeeded")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_zipped_shapefile_in_utm_is_imported_by_the_real_worker(
    cast,
    image,
    classes,
    client_for,
    tmp_path,
    celery_worker,
    wait_for,
):
    from annotator.models import Job

    archive = zip_shapefile(tmp_path, "osm_buildings", 32614)
    response = post_import(client_for(cast.owner), cast, image, archive, **CLASS_OPTIONS)
    assert response.status_code == 201, response.content
    job_id = response.json()["job"]["id"]

    assert wait_for(lambda: Job.objects.get(pk=job_id).is_finished), "the worker did not finish the import"
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error
    assert "from EPSG:32614" in job.message
    check_round_trip(cast, image, classes)


def test_unmapped_values_fall_back_to_the_default_class_and_are_reported(
    cast,
    image,
    classes,
    client_for,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    from annotator.models import Annotation

    path = write_vector(tmp_path / "b.geojson", "GeoJSON", 3857)
    with django_capture_on_commit_callbacks(execute=False):
        response = post_import(
            client_for(cast.owner), cast, image, path, class_attribute="kind", default_label_class=classes["water"].pk
        )
    job = run_queued_import(response.json()["job"]["id"])
    assert "no label class for: house, pond" in job.message
    names = sorted(a.label_class.name for a in Annotation.objects.filter(image=image))
    assert names == ["barn", "water", "water"]  # "Barn" matches the class by name, case aside
