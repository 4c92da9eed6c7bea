"""Vector import: GeoJSON, GeoPackage or zipped Shapefile in any CRS → draft annotations.

The upload is stored, a :class:`VectorImport` row records the options, and a Job runs
:func:`run_import`: the file is read with pyogrio (GDAL), reprojected to EPSG:4326,
clipped to the image footprint, mapped to label classes by one attribute, and created as
drafts in one transaction: all of it or nothing. Bad files (not a vector, no CRS,
non-polygon geometries, zip entries escaping the folder, absurd sizes) are refused with a
message that says why.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.db import transaction
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from annotator import jobs
from annotator.choices import JobKind
from annotator.errors import InvalidInput, UploadTooLarge
from annotator.models import (
    Annotation,
    AnnotationSource,
    AnnotationState,
    AnnotationVersion,
    Image,
    Job,
    LabelClass,
    Project,
    VectorImport,
    VersionAction,
)
from annotator.segment.outline import polygon_parts
from annotator.storage import get_storage
from annotator.workflow.annotations import geodesic_area_m2, version_row

SUFFIXES = (".geojson", ".json", ".gpkg", ".zip")
VECTOR_SUFFIXES = (".shp", ".geojson", ".json", ".gpkg")
MAX_ZIP_MEMBERS = 1000
POLYGONAL = {"Polygon", "MultiPolygon"}


@dataclass
class VectorFeatures:
    """Features read from a file: geometries in EPSG:4326 and the class attribute's values."""

    geometries: np.ndarray  # shapely geometries (Polygon/MultiPolygon or None), EPSG:4326
    class_values: list[str | None]
    crs: str


# --- upload ----------------------------------------------------------------------------


def create_import(
    project: Project,
    image_id: int,
    uploaded_file,
    user,
    *,
    class_attribute: str = "",
    class_map: dict[str, str] | None = None,
    default_label_class: int | None = None,
) -> tuple[VectorImport, Any]:
    """Store an uploaded vector file and queue its import as a Job (kind ``import``)."""
    image = Image.objects.filter(project=project, pk=image_id).first()
    if image is None:
        raise InvalidInput(f"Image {image_id} is not in this project.", field="image")
    if image.footprint is None:
        raise InvalidInput("This image has no georeference yet; import after it is ready.", field="image")
    name = os.path.basename((uploaded_file.name or "").replace("\\", "/"))
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput(
            "Upload a GeoJSON (.geojson), a GeoPackage (.gpkg) or a zipped Shapefile (.zip).", field="file"
        )
    limit = settings.MAX_IMPORT_BYTES
    if (uploaded_file.size or 0) > limit:
        raise UploadTooLarge(f"The file is larger than the import limit of {limit} bytes.", field="file")
    if class_map is not None and (
        not isinstance(class_map, dict) or not all(isinstance(v, str) for v in class_map.values())
    ):
        raise InvalidInput("class_map must map attribute values to label class names.", field="class_map")
    default = None
    if default_label_class is not None:
        default = LabelClass.objects.filter(project=project, pk=default_label_class).first()
        if default is None:
            raise InvalidInput("default_label_class is not a class of this project.", field="default_label_class")
        if default.archived:
            raise InvalidInput(
                f"The label class {default.name!r} is archived: imported drafts take another class.",
                field="default_label_class",
            )
    storage = get_storage()
    key = ""
    try:
        with transaction.atomic():
            vector_import = VectorImport.objects.create(
                project=project,
                image=image,
                file_name=name[:255],
                class_attribute=class_attribute or "",
                class_map={str(k): v for k, v in (class_map or {}).items()},
                default_label_class=default,
                created_by=user,
            )
            key = f"projects/{project.pk}/imports/{vector_import.pk}/upload{suffix}"
            uploaded_file.seek(0)
            vector_import.file_size = storage.put_stream(uploaded_file, key)
            vector_import.file_key = key
            vector_import.save(update_fields=["file_key", "file_size"])
            job = jobs.enqueue(JobKind.IMPORT, project, vector_import, user)
    except BaseException:
        # The rows rolled back; the file stored inside the block goes with them.
        if key:
            storage.delete(key)
        raise
    return vector_import, job


# --- reading ---------------------------------------------------------------------------


def _unsafe_member(info: zipfile.ZipInfo) -> bool:
    """A zip entry whose path is absolute, climbs out of the folder, or is a link."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    if ".." in posixpath.normpath(name).split("/") or ".." in name.split("/"):
        return True
    return stat.S_ISLNK(info.external_attr >> 16)


@contextlib.contextmanager
def _extracted_zip(path: str) -> Iterator[str]:
    """Check a zip (paths, member count, uncompressed size) and extract it into a temporary folder."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InvalidInput("The .zip file is damaged or not a zip archive.", field="file") from None
    with archive, tempfile.TemporaryDirectory(prefix="geoprompt-import-") as folder:
        members = archive.infolist()
        bad = [m.filename for m in members if _unsafe_member(m)]
        if bad:
            raise InvalidInput(
                f"The zip holds paths that point outside its folder ({', '.join(bad[:3])}); it was refused.",
                field="file",
            )
        if len(members) > MAX_ZIP_MEMBERS:
            raise InvalidInput(f"The zip holds {len(members)} files; the limit is {MAX_ZIP_MEMBERS}.", field="file")
        limit = settings.MAX_IMPORT_BYTES
        total = sum(m.file_size for m in members)
        if total > limit:
            raise InvalidInput(f"The zip unpacks to {total} bytes; the import limit is {limit} bytes.", field="file")
        root = os.path.realpath(folder)
        written = 0
        for member in members:
            target = os.path.realpath(os.path.join(root, member.filename))
            if not target.startswith(root + os.sep):
                raise InvalidInput("The zip holds paths that point outside its folder; it was refused.", field="file")
            if member.is_dir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(member) as source, open(target, "wb") as out:
                while chunk := source.read(1024 * 1024):
                    written += len(chunk)
                    if written > limit:  # the sizes in the zip's directory can lie
                        raise InvalidInput(f"The zip unpacks to more than {limit} bytes.", field="file")
                    out.write(chunk)
        yield folder


def _vector_in(folder: str) -> str:
    found = sorted(str(p) for p in Path(folder).rglob("*") if p.suffix.lower() in VECTOR_SUFFIXES)
    shapefiles = [p for p in found if p.lower().endswith(".shp")]
    candidates = shapefiles or found
    if not candidates:
        raise InvalidInput("The zip holds no Shapefile (.shp) or other vector file.", field="file")
    if len(candidates) > 1:
        names = ", ".join(os.path.basename(p) for p in candidates[:5])
        raise InvalidInput(f"The zip holds several vector files ({names}); import one at a time.", field="file")
    return candidates[0]


def _polygon_layer(path: str) -> str | int:
    # Imported here and in read_vector: pyogrio's GDAL bindings (~27 MiB resident) are the
    # import job's, not every web process's.
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        layers = pyogrio.list_layers(path)
    except (DataSourceError, DataLayerError, OSError):
        raise InvalidInput("This is not a vector file that GDAL can read.", field="file") from None
    if len(layers) == 0:
        raise InvalidInput("The file holds no layers.", field="file")
    for name, geometry_type in layers:
        if geometry_type is not None and ("Polygon" in geometry_type or geometry_type == "Unknown"):
            return name
    return layers[0][0]


def read_vector(path: str, class_attribute: str = "") -> VectorFeatures:
    """Read polygons from a vector file (a zip is checked and unpacked first) into EPSG:4326.

    Args:
        path: a local path to a .geojson/.json, .gpkg or .zip (Shapefile) file.
        class_attribute: the field holding each feature's class, or "" for none.

    Returns:
        Geometries in EPSG:4326 (lon, lat), 2D, one per feature (None where a feature has
        none), and the class attribute's values as text.

    Raises:
        InvalidInput: not a vector, no CRS, not polygons, unknown attribute, too many features.
    """
    import pyogrio.raw
    from pyogrio.errors import DataLayerError, DataSourceError

    if zipfile.is_zipfile(path):
        with _extracted_zip(path) as folder:
            return read_vector(_vector_in(folder), class_attribute)
    layer = _polygon_layer(path)
    try:
        info = pyogrio.read_info(path, layer=layer)
    except (DataSourceError, DataLayerError, OSError):
        raise InvalidInput("This is not a vector file that GDAL can read.", field="file") from None
    limit = settings.MAX_IMPORT_FEATURES
    if info["features"] > limit:
        raise InvalidInput(f"The file holds {info['features']} features; the limit is {limit}.", field="file")
    if not info.get("crs"):
        raise InvalidInput(
            "The file has no coordinate reference system (for a Shapefile, the .prj file is missing).", field="file"
        )
    if class_attribute and class_attribute not in list(info["fields"]):
        fields = ", ".join(info["fields"]) or "none"
        raise InvalidInput(
            f"The file has no attribute {class_attribute!r}; its attributes are: {fields}.", field="class_attribute"
        )
    columns = [class_attribute] if class_attribute else []
    try:
        meta, _fids, wkb, field_data = pyogrio.raw.read(path, layer=layer, columns=columns)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise InvalidInput(f"The file could not be read: {exc}", field="file") from None
    geometries = shapely.from_wkb(wkb)
    kinds = {g.geom_type for g in geometries if g is not None}
    wrong = sorted(kinds - POLYGONAL)
    if wrong:
        raise InvalidInput(
            f"Only polygons can be imported; the file holds {', '.join(wrong)} geometries.", field="file"
        )
    try:
        source_crs = CRS.from_user_input(meta["crs"])
    except CRSError:
        raise InvalidInput(
            f"The file's coordinate reference system is not understood: {meta['crs']}", field="file"
        ) from None
    geometries = shapely.force_2d(geometries)
    if not source_crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        transformer = Transformer.from_crs(source_crs, CRS.from_epsg(4326), always_xy=True)

        def to_lonlat(coords: np.ndarray) -> np.ndarray:
            lon, lat = transformer.transform(coords[:, 0], coords[:, 1])
            return np.column_stack([lon, lat])

        geometries = shapely.transform(geometries, to_lonlat)
    values = [None if v is None else str(v) for v in field_data[0]] if class_attribute else [None] * len(geometries)
    return VectorFeatures(geometries=np.asarray(geometries, dtype=object), class_values=values, crs=source_crs.srs)


# --- import ----------------------------------------------------------------------------


def clip_to_footprint(features: VectorFeatures, footprint: GEOSGeometry) -> list[tuple[int, MultiPolygon]]:
    """(feature index, MultiPolygon in EPSG:4326) for each feature that meets the footprint."""
    area = shapely.from_wkb(bytes(footprint.wkb))
    geometries = features.geometries
    invalid = ~shapely.is_valid(geometries) & ~shapely.is_missing(geometries)
    if invalid.any():
        geometries = geometries.copy()
        geometries[invalid] = shapely.make_valid(geometries[invalid])
    clipped = shapely.intersection(geometries, area)
    limit = settings.MAX_ANNOTATION_VERTICES
    kept = []
    for index, geometry in enumerate(clipped):
        parts = polygon_parts(geometry)
        if not parts:
            continue
        multi = shapely.MultiPolygon(parts)
        vertices = shapely.get_num_coordinates(multi)
        if vertices > limit:
            raise InvalidInput(
                f"Feature {index + 1} has {vertices} vertices inside the image; the limit is {limit}.", field="file"
            )
        kept.append((index, GEOSGeometry(memoryview(shapely.to_wkb(multi)), srid=4326)))
    return kept


def resolve_classes(
    vector_import: VectorImport, values: list[str | None]
) -> tuple[dict[str | None, int | None], list[str]]:
    """Label class id for each distinct attribute value, and the values no class matched.

    A value goes through ``class_map`` first, then matches a class name (case-insensitive);
    unmatched values (and features without a value) get the default class, or none.
    """
    # Archived classes take no new work: a value naming one is unmatched (and gets the default).
    classes = LabelClass.objects.filter(project=vector_import.project_id, archived=False).values_list("pk", "name")
    by_name = {name.lower(): pk for pk, name in classes}
    default = vector_import.default_label_class_id
    mapping: dict[str | None, int | None] = {None: default}
    unmatched = []
    for value in {v for v in values if v is not None}:
        found = by_name.get(vector_import.class_map.get(value, value).lower())
        if found is None:
            unmatched.append(value)
        mapping[value] = found if found is not None else default
    return mapping, sorted(unmatched)


def run_import(vector_import: VectorImport, progress: Callable[[float, str], None] | None = None) -> str:
    """Read, reproject, clip and create the drafts of one import, all or nothing.

    A failed import keeps nothing but its row and the job's error: its uploaded file is
    deleted from storage (and ``file_key`` emptied), since no later step will read it.

    Returns a message for the job row: how many drafts were created and skipped.
    """
    try:
        return _run_import(vector_import, progress)
    except Exception:
        # Exception, not BaseException: a worker that is shutting down may hand the job to
        # another, which needs the file.
        if vector_import.file_key:
            get_storage().delete(vector_import.file_key)
            VectorImport.objects.filter(pk=vector_import.pk).update(file_key="")
        raise


def _run_import(vector_import: VectorImport, progress: Callable[[float, str], None] | None) -> str:
    report = progress or (lambda fraction, message: None)
    image = vector_import.image
    if image.footprint is None:
        raise InvalidInput("The image has no georeference, so nothing can be imported onto it.")
    report(0.1, "reading")
    with get_storage().local_copy(vector_import.file_key, suffix=Path(vector_import.file_key).suffix) as path:
        features = read_vector(path, vector_import.class_attribute)
    report(0.4, "clipping")
    kept = clip_to_footprint(features, image.footprint)
    classes, unmatched = resolve_classes(vector_import, features.class_values)
    user = vector_import.created_by
    rows = [
        Annotation(
            project_id=vector_import.project_id,
            image=image,
            label_class_id=classes[features.class_values[index]],
            author=user,
            geometry=geometry,
            area_m2=geodesic_area_m2(geometry),
            source=AnnotationSource.IMPORT,
            state=AnnotationState.DRAFT,
            attributes={},
        )
        for index, geometry in kept
    ]
    report(0.7, "saving")
    skipped = len(features.geometries) - len(rows)
    with transaction.atomic():
        created = Annotation.objects.bulk_create(rows, batch_size=1000)
        AnnotationVersion.objects.bulk_create(
            [version_row(a, VersionAction.IMPORTED, user) for a in created], batch_size=1000
        )
        vector_import.created_count = len(created)
        vector_import.skipped_count = skipped
        vector_import.save(update_fields=["created_count", "skipped_count"])
    message = f"{len(created)} draft(s) created from {features.crs}; {skipped} feature(s) outside the image skipped"
    if unmatched:
        message += f"; no label class for: {', '.join(unmatched[:10])}"
    return message


@jobs.register(JobKind.IMPORT)
def run_import_job(job: Job) -> str:
    """Runner of ``import`` jobs: import the vector file the row points to as drafts (all or nothing)."""
    record = VectorImport.objects.select_related("image", "created_by").get(pk=job.target_id)
    return run_import(record, progress=job.set_progress)
