"""Bad vector files are refused with a message that says why, and create nothing."""

from __future__ import annotations

import zipfile

import pytest
import shapely
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.support.vectors import FEATURES, write_vector, zip_shapefile
from tests.support.workflow import CENTRE, DATA_RASTER


def import_bytes(client, cast, image, name: str, content: bytes, capture, **options):
    """POST an import; returns (response, finished Job or None). The task runs in this process."""
    from annotator.models import Job
    from tasks.jobs import run_job_task

    with capture(execute=False):
        response = client.post(
            f"/api/v1/projects/{cast.project.pk}/imports/",
            {"file": SimpleUploadedFile(name, content), "image": image.pk, **options},
            format="multipart",
        )
    if response.status_code != 201:
        return response, None
    job_id = response.json()["job"]["id"]
    run_job_task(job_id)
    return response, Job.objects.get(pk=job_id)


@pytest.fixture
def refused(cast, image, client_for, django_capture_on_commit_callbacks):
    """Import a file and check that its job failed and that no annotation was created."""
    from annotator.models import Annotation

    def check(name: str, content: bytes, **options) -> str:
        _, job = import_bytes(
            client_for(cast.owner), cast, image, name, content, django_capture_on_commit_callbacks, **options
        )
        assert job is not None
        assert job.status == "failed"
        assert Annotation.objects.count() == 0
        return job.error

    return check


def test_a_file_that_is_not_a_vector_is_refused(refused):
    assert "not a vector file" in refused("roads.geojson", b"this is not GeoJSON at all")


def test_a_raster_is_refused(refused):
    assert "not a vector file" in refused("scene.gpkg", DATA_RASTER.read_bytes())


def test_a_shapefile_without_a_crs_is_refused(refused, tmp_path):
    archive = zip_shapefile(tmp_path, "no_prj", None)
    assert "no coordinate reference system" in refused("no_prj.zip", archive.read_bytes())


@pytest.mark.parametrize(
    ("geometry_type", "geometry"),
    [("Point", shapely.Point(*CENTRE)), ("LineString", shapely.LineString([CENTRE, (CENTRE[0] + 0.001, CENTRE[1])]))],
)
def test_points_and_lines_are_refused(refused, tmp_path, geometry_type, geometry):
    path = write_vector(tmp_path / "x.gpkg", "GPKG", 3857, [("road", geometry)], geometry_type=geometry_type)
    assert f"Only polygons can be imported; the file holds {geometry_type}" in refused("x.gpkg", path.read_bytes())


@pytest.mark.parametrize("evil_name", ["../../outside.shp", "/etc/cron.d/evil.shp", "a/../../b.shp", "..\\..\\c.shp"])
def test_a_zip_whose_paths_escape_its_folder_is_refused(refused, tmp_path, evil_name):
    archive = tmp_path / "slip.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr(evil_name, "gotcha")
    assert "outside its folder" in refused("slip.zip", archive.read_bytes())
    assert not (tmp_path.parent / "outside.shp").exists()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(refused, tmp_path, settings):
    settings.MAX_IMPORT_BYTES = 1024 * 1024
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb/zeros.shp", b"\0" * (8 * 1024 * 1024))
    assert archive.stat().st_size < 64 * 1024
    assert "unpacks to 8388608 bytes" in refused("bomb.zip", archive.read_bytes())


def test_too_many_features_are_refused(refused, tmp_path, settings):
    settings.MAX_IMPORT_FEATURES = 3
    path = write_vector(tmp_path / "many.geojson", "GeoJSON", 3857)
    assert "holds 4 features; the limit is 3" in refused("many.geojson", path.read_bytes())


def test_an_unknown_class_attribute_is_refused(refused, tmp_path):
    path = write_vector(tmp_path / "b.geojson", "GeoJSON", 3857)
    assert "no attribute 'building_type'; its attributes are: kind" in refused(
        "b.geojson", path.read_bytes(), class_attribute="building_type"
    )


def test_one_feature_over_the_vertex_limit_fails_the_whole_import(refused, tmp_path, settings):
    settings.MAX_ANNOTATION_VERTICES = 50
    detailed = shapely.Point(*CENTRE).buffer(0.001, quad_segs=64)
    path = write_vector(tmp_path / "b.geojson", "GeoJSON", 3857, [*FEATURES[:2], ("house", detailed)])
    assert "Feature 3 has" in refused("b.geojson", path.read_bytes())


class TestRefusedAtUpload:
    def test_a_file_over_the_import_limit_gets_413_and_leaves_no_rows(
        self,
        cast,
        image,
        client_for,
        settings,
        django_capture_on_commit_callbacks,
    ):
        from annotator.models import Job, VectorImport

        settings.MAX_IMPORT_BYTES = 1000
        response, _ = import_bytes(
            client_for(cast.owner), cast, image, "big.geojson", b" " * 2000, django_capture_on_commit_callbacks
        )
        assert response.status_code == 413
        assert "import limit of 1000 bytes" in response.json()["detail"]
        assert VectorImport.objects.count() == Job.objects.count() == 0

    def test_an_unknown_format_gets_400(self, cast, image, client_for, django_capture_on_commit_callbacks):
        response, _ = import_bytes(
            client_for(cast.owner), cast, image, "roads.kml", b"<kml/>", django_capture_on_commit_callbacks
        )
        assert response.status_code == 400
        assert "GeoJSON" in response.json()["detail"]

    def test_an_image_of_another_project_gets_400(self, cast, client_for, django_capture_on_commit_callbacks):
        from tests.support.workflow import make_image

        theirs = make_image(cast.other_project)
        response, _ = import_bytes(
            client_for(cast.owner), cast, theirs, "a.geojson", b"{}", django_capture_on_commit_callbacks
        )
        assert response.status_code == 400
        assert response.json()["field"] == "image"
