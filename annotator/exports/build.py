"""Build one export: GIS files, chips with COCO / YOLO / masks / STAC, a manifest, a zip.

Layout of the archive::

    manifest.json                       who, when, filters, options, counts, files
    gis/annotations.geojson             EPSG:4326 (RFC 7946)
    gis/annotations.gpkg                EPSG:4326 layer "annotations", or "image_<id>" layers
    gis/annotations_shp.zip             the same as Shapefile(s)
    images/<split>/<chip>.png           chips, RGB uint8, band mapping + stretch applied
    coco/instances_<split>.json         COCO instance segmentation
    labels/<split>/<chip>.txt, data.yaml  YOLO segmentation
    masks/<split>/<chip>.tif            class-id GeoTIFFs aligned with the chips
    stac/catalog.json, stac/items/      STAC catalog, one label item per chip

Label attributes (per label class, filled in on each annotation) go wherever a format has
per-object properties: GeoJSON and GeoPackage as ``attr_<name>`` properties / typed columns,
the Shapefile as one JSON text column ``attributes`` (see :mod:`.gis`), COCO as each
annotation entry's ``attributes`` object (see :mod:`.coco`). YOLO lines, the class-id masks
and the STAC raster label items hold a class per object or pixel and nothing more, so they
carry none. ``manifest.json`` lists every label class (archived ones too, which are exported
like the others) with its attribute definitions.

Chips are produced image by image and chip row by chip row; each row fetches only the
annotations that cross it (PostGIS intersects on the row's EPSG:4326 footprint), so memory
holds one chip row's objects at a time, and every writer streams to its files. What does
grow with the chips is their plan (the splits need every footprint at once) and the zip's
index of files: about 3.5 KB a chip measured (13,309 chips: +47 MB), so the chip count is
bounded (``settings.EXPORT_MAX_CHIPS``, checked when the export is created and again here).

A build is cancellable: between chips, annotation batches and archive files it asks the
Job row whether it was cancelled (at most once per ``CANCEL_CHECK_S``) and stops. Whether
it stops or fails, nothing stays: the temporary folder (in ``settings.TEMP_DIR``) goes with
its context and anything stored under the export's prefix is deleted.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
import shapely
import shapely.affinity
from django.contrib.gis.geos import GEOSGeometry
from django.utils import timezone
from PIL import Image as PILImage
from pyproj import CRS, Geod, Transformer

from annotator import jobs
from annotator.choices import JobKind, JobStatus
from annotator.errors import InvalidInput
from annotator.exports import gis
from annotator.exports.archive import zip_export
from annotator.exports.chips import (
    Chip,
    PixelMapper,
    check_chip_limit,
    chip_rows,
    pixel_rect_4326,
    plan_chips,
    read_chip,
)
from annotator.exports.coco import ChipObject, CocoWriter
from annotator.exports.filters import AnnotationBatch, annotation_queryset, filters_from_json, iter_batches
from annotator.exports.masks import mask_array, mask_dtype, write_mask
from annotator.exports.options import SPLIT_NAMES, ExportOptions, options_from_json
from annotator.exports.splits import assign_splits
from annotator.exports.stac import StacWriter
from annotator.exports.yolo import write_data_yaml, write_labels
from annotator.imagery.ingest import GDAL_SAFE_ENV
from annotator.models import Export, ExportFormat, Image, Job, LabelClass
from annotator.quality import regularise as regularisation
from annotator.storage import TEMP_PREFIX, get_storage, temp_dir

logger = logging.getLogger(__name__)
_GEOD = Geod(ellps="WGS84")

Progress = Callable[[float, str], None]
PNG_THREADS = 2
PNG_IN_FLIGHT = 4
# Chips are read once each: a small GDAL block cache keeps memory flat on big images (MiB).
CHIP_READ_ENV = {**GDAL_SAFE_ENV, "GDAL_CACHEMAX": 64}
# Seconds between two looks at the Job row for a cancellation: one small query a second
# costs nothing beside the chips, and bounds how long a cancelled build goes on.
CANCEL_CHECK_S = 1.0


class ExportCancelled(Exception):
    """The export's Job row was cancelled while the export was being built."""


class CancelCheck:
    """Raises :class:`ExportCancelled` once the export's Job row is ``cancelled``.

    Called between steps as often as convenient; it asks the database at most once per
    ``interval_s`` seconds. Without a job (an export built outside a Job) it never raises.
    """

    def __init__(self, job_id: int | None, interval_s: float = CANCEL_CHECK_S):
        self.job_id = job_id
        self.interval_s = interval_s
        self.last = -math.inf

    def __call__(self, now: bool = False) -> None:
        """Raise if the job was cancelled; ``now`` asks even if the last look was under ``interval_s`` ago."""
        if self.job_id is None:
            return
        now_s = time.monotonic()
        if not now and now_s - self.last < self.interval_s:
            return
        self.last = now_s
        if Job.objects.filter(pk=self.job_id, status=JobStatus.CANCELLED).exists():
            raise ExportCancelled(f"job {self.job_id} was cancelled")


def _checked(batches: Iterable, check: Callable[[], None]) -> Iterator:
    """The items of ``batches``, with a cancellation check before each."""
    for batch in batches:
        check()
        yield batch


def _no_progress(fraction: float, message: str) -> None:
    return None


def _save_png(rgb, path: Path) -> None:
    PILImage.fromarray(rgb).save(path, compress_level=1)


class ChipDataset:
    """Writers of the chip formats requested, fed chip by chip."""

    def __init__(self, export: Export, out_dir: Path, formats: set[str], classes: list[LabelClass]):
        self.out_dir = out_dir
        self.formats = formats
        self.class_names = [c.name for c in classes]
        self.category_of = {c.pk: i + 1 for i, c in enumerate(classes)}
        description = f"Geoprompt export {export.pk} of project {export.project_id} ({export.project.name})"
        categories = [
            {"id": i + 1, "name": c.name, "supercategory": "", "color": c.colour} for i, c in enumerate(classes)
        ]
        self.coco = CocoWriter(out_dir, categories, description) if ExportFormat.COCO in formats else None
        self.stac = (
            StacWriter(out_dir, f"geoprompt-export-{export.pk}", description, self.class_names, export.created_at)
            if ExportFormat.STAC in formats
            else None
        )
        self.chips: dict[str, int] = dict.fromkeys(SPLIT_NAMES, 0)
        self.objects = 0
        # PNG encoding (zlib releases the GIL) runs beside the reads; at most PNG_IN_FLIGHT chips wait.
        self.png_pool = ThreadPoolExecutor(max_workers=PNG_THREADS, thread_name_prefix="export-png")
        self.png_futures: deque[Future] = deque()

    def add(self, image: Image, chip: Chip, rgb, valid, objects: list[ChipObject]) -> None:
        image_href = f"images/{chip.split}/{chip.name}.png"
        path = self.out_dir / image_href
        path.parent.mkdir(parents=True, exist_ok=True)
        while len(self.png_futures) >= PNG_IN_FLIGHT:
            self.png_futures.popleft().result()
        self.png_futures.append(self.png_pool.submit(_save_png, rgb, path))
        if self.coco is not None:
            self.coco.add_chip(chip, f"{chip.split}/{chip.name}.png", image.crs_wkt, image.epsg, objects)
        if ExportFormat.YOLO in self.formats:
            write_labels(self.out_dir, chip, objects)
        mask_href = ""
        if ExportFormat.MASKS in self.formats:
            _dtype, nodata = mask_dtype(len(self.class_names))
            mask = mask_array(objects, valid, chip.size, len(self.class_names))
            mask_href = write_mask(self.out_dir, chip, mask, image.crs_wkt, nodata)
        if self.stac is not None:
            self.stac.add_chip(chip, image_href, mask_href, image.epsg, image.crs_wkt)
        self.chips[chip.split] += 1
        self.objects += len(objects)

    def __enter__(self) -> ChipDataset:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self.discard()

    def discard(self) -> None:
        """Stop without finishing: drop queued PNGs, wait for the ones being written, close parts.

        Runs before the temporary folder is deleted, so no thread writes into it afterwards.
        """
        for future in self.png_futures:
            future.cancel()
        self.png_pool.shutdown(wait=True, cancel_futures=True)
        self.png_futures.clear()
        if self.coco is not None:
            self.coco.discard()
        if self.stac is not None:
            self.stac.discard()

    def close(self) -> dict[str, object]:
        while self.png_futures:
            self.png_futures.popleft().result()
        self.png_pool.shutdown()
        files: dict[str, object] = {}
        if self.coco is not None:
            files["coco"] = self.coco.close()
        if ExportFormat.YOLO in self.formats:
            files["yolo"] = write_data_yaml(self.out_dir, self.class_names)
        if self.stac is not None:
            files["stac"] = self.stac.close()
        return files


def _chip_objects(
    chip: Chip, tree: shapely.STRtree, pixel_geometries, ids, categories: list[int | None], attributes: list[dict]
) -> list[ChipObject]:
    """The annotations inside ``chip``, clipped to it, in chip pixel coordinates."""
    c0, r0, c1, r1 = chip.pixel_box
    objects = []
    for k in tree.query(shapely.box(c0, r0, c1, r1), predicate="intersects").tolist():
        if categories[k] is None:
            continue
        clipped = shapely.clip_by_rect(pixel_geometries[k], c0, r0, c1, r1)
        if clipped.is_empty or clipped.area <= 0:
            continue
        local = shapely.affinity.translate(clipped, -c0, -r0)
        objects.append(ChipObject(int(ids[k]), categories[k], local, attributes[k]))
    objects.sort(key=lambda o: o.annotation_id)
    return objects


def _write_chips(
    export: Export,
    out_dir: Path,
    formats: set[str],
    options: ExportOptions,
    images: list[Image],
    queryset,
    progress: Progress,
    check: Callable[[], None],
    regularised: Regularised,
) -> dict[str, object]:
    classes = list(LabelClass.objects.filter(project=export.project).order_by("order", "name", "pk"))
    # Annotations may have reached more images since the export was queued.
    check_chip_limit(images, options.chip_size, options.chip_overlap)
    plans = {}
    for image in images:
        check()
        if not image.cog_key or not image.geotransform or not (image.crs_wkt or image.epsg):
            raise InvalidInput(f"Image {image.name!r} has no georeferenced COG; it cannot be cut into chips.")
        plans[image.pk] = plan_chips(image, options.chip_size, options.chip_overlap)
    every_chip = [chip for chips in plans.values() for chip in chips]
    split_counts = assign_splits(every_chip, options.splits, options.seed, options.block_chips)
    total = max(len(every_chip), 1)
    del every_chip  # each image's plan is dropped once its chips are written
    with ChipDataset(export, out_dir, formats, classes) as dataset:
        _cut_chips(dataset, images, plans, queryset, options, progress, check, total, regularised)
        files = dataset.close()
    files["chips"] = {name: n for name, n in dataset.chips.items()}
    files["objects"] = dataset.objects
    files["guard_chips"] = split_counts["guard"]
    return files


def _cut_chips(
    dataset: ChipDataset,
    images: list[Image],
    plans: dict[int, list[Chip]],
    queryset,
    options: ExportOptions,
    progress: Progress,
    check: Callable[[], None],
    total: int,
    regularised: Regularised,
) -> None:
    """Read, render and hand to ``dataset`` every chip of ``plans``, image by image, row by row."""
    storage = get_storage()
    done = 0
    for image in images:
        mapper = PixelMapper(image)
        to_4326 = Transformer.from_crs(gis.image_crs(image), CRS.from_epsg(4326), always_xy=True)
        with (
            rasterio.Env(**CHIP_READ_ENV),
            storage.local_copy(image.cog_key, ".tif") as path,
            rasterio.open(path) as src,
        ):
            for row in chip_rows(plans[image.pk]):
                top, size = row[0].row_off, row[0].size
                strip = pixel_rect_4326(image, (-1, top - 1, image.width + 1, top + size + 1), to_4326)
                strip_geos = GEOSGeometry(memoryview(shapely.to_wkb(strip)), srid=4326)
                ids, pixel_geometries, categories, attributes = [], [], [], []
                strip_rows = queryset.filter(image=image, geometry__intersects=strip_geos)
                for batch in regularised.apply(iter_batches(strip_rows)):
                    ids.extend(batch.ids.tolist())
                    pixel_geometries.extend(mapper(batch.geometries).tolist())
                    categories.extend(dataset.category_of.get(c) for c in batch.class_ids.tolist())
                    attributes.extend(batch.attributes.tolist())
                tree = shapely.STRtree(pixel_geometries)
                for chip in row:
                    check()
                    if chip.guard:
                        done += 1
                        continue
                    objects = _chip_objects(chip, tree, pixel_geometries, ids, categories, attributes)
                    done += 1
                    if objects or options.include_empty_chips:
                        rgb, valid = read_chip(src, image, chip)
                        dataset.add(image, chip, rgb, valid, objects)
                progress(0.3 + 0.6 * done / total, f"chips {done}/{total}")
        del plans[image.pk]


class Regularised:
    """The regularised footprints of an export (the ``regularise`` option): annotation id →
    geometry (EPSG:4326) and area (m²), and the figures the manifest reports."""

    def __init__(self, queryset, images: list[Image], setting: dict | None, check: Callable[[], None]):
        self.geometries: dict[int, shapely.Geometry] = {}
        self.areas: dict[int, float] = {}
        self.report: dict[str, object] | None = None
        if setting is None:
            return
        options = regularisation.RegulariseOptions(allow_45=setting["allow_45"], tolerance_m=setting["tolerance_m"])
        figures = []
        for image in images:
            ids, shapes = [], []
            of_class = queryset.filter(image=image, label_class_id=setting["label_class"])
            for batch in _checked(iter_batches(of_class), check):
                ids.extend(batch.ids.tolist())
                shapes.extend(batch.geometries.tolist())
            # One image at a time, all its footprints of the class at once: touching ones
            # must be regularised together to keep touching.
            results = regularisation.regularise_4326(shapes, options, regularisation.image_metric_crs(image))
            for annotation_id, result in zip(ids, results, strict=True):
                self.geometries[annotation_id] = result.geometry
                self.areas[annotation_id] = abs(_GEOD.geometry_area_perimeter(result.geometry)[0])
                figures.append({"id": annotation_id, **result.report()})
        ious = [f["iou"] for f in figures]
        self.report = {
            **setting,
            "footprints": len(figures),
            "iou_min": min(ious) if ious else None,
            "iou_mean": round(sum(ious) / len(ious), 4) if ious else None,
            "max_angle_deviation_deg": max((f["max_angle_deviation_deg"] for f in figures), default=None),
            "annotations": figures,
        }

    def apply(self, batches: Iterable[AnnotationBatch]) -> Iterator[AnnotationBatch]:
        """The batches with the regularised geometries (and their areas) in place of the stored ones."""
        for batch in batches:
            if self.geometries:
                ids = batch.ids.tolist()
                geometries = np.empty(len(ids), dtype=object)
                geometries[:] = [self.geometries.get(i, g) for i, g in zip(ids, batch.geometries, strict=True)]
                batch.geometries = geometries
                batch.areas_m2 = np.array([self.areas.get(i, a) for i, a in zip(ids, batch.areas_m2, strict=True)])
            yield batch


def build_export(export: Export, progress: Progress = _no_progress) -> Export:
    """Run an export: write every requested format, zip them, store the zip, fill the row.

    Stops within about ``CANCEL_CHECK_S`` seconds (plus the step under way) once the
    export's Job row is cancelled. Stopped or failed, it leaves nothing: no temporary
    folder, nothing stored under the export's prefix.

    Args:
        export: the row (filters, formats and options already validated).
        progress: called with (fraction 0..1, message).
    Returns:
        the row with ``counts``, ``size_bytes``, ``archive_key`` and ``finished_at`` set;
        unchanged (no archive) when the job was cancelled.
    Raises:
        InvalidInput: an image cannot be cut into chips, or too many chips (see
            :func:`~annotator.exports.chips.check_chip_limit`).
    """
    check = CancelCheck(export.job_id)
    started = time.monotonic()
    try:
        return _build(export, progress, check)
    except BaseException as exc:
        # A stored archive is the last step: one there belongs to a build that stopped
        # just after storing it (a cancel, a failed save of the row).
        get_storage().delete_prefix(export.storage_prefix)
        if not isinstance(exc, ExportCancelled):
            raise
        seconds = time.monotonic() - started
        logger.info("export %s stopped: its job was cancelled (%.1f s into the build)", export.pk, seconds)
        Job.objects.filter(pk=export.job_id, status=JobStatus.CANCELLED).update(
            message=f"cancelled after {seconds:.0f} s of building; nothing was kept"
        )
        return export


def _build(export: Export, progress: Progress, check: Callable[[], None]) -> Export:
    filters = filters_from_json(export.filters)
    options = options_from_json(export.options)
    formats = set(export.formats)
    queryset = annotation_queryset(export.project, filters)
    image_ids = sorted(set(queryset.values_list("image_id", flat=True).distinct()))
    images = list(Image.objects.filter(pk__in=image_ids).order_by("pk"))
    classes = list(LabelClass.objects.filter(project=export.project).order_by("order", "name", "pk"))
    counts: dict[str, object] = {"annotations": queryset.count(), "images": len(images)}
    manifest: dict[str, object] = {
        "export": export.pk,
        "project": {"id": export.project_id, "name": export.project.name},
        "created_by": export.created_by.username if export.created_by else None,
        "created_at": export.created_at.isoformat(),
        "filters": export.filters,
        "options": export.options,
        "formats": export.formats,
        "images": [
            {"id": i.pk, "name": i.name, "crs": i.crs_wkt, "epsg": i.epsg, "geotransform": i.geotransform}
            for i in images
        ],
        # Every class, archived ones too, with the definitions of the attributes the files carry.
        "label_classes": [
            {"id": c.pk, "name": c.name, "colour": c.colour, "archived": c.archived, "attributes": c.attributes}
            for c in classes
        ],
    }
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}export-{export.pk}-", dir=temp_dir()) as tmp:
        out_dir = Path(tmp) / "export"
        out_dir.mkdir()
        regularised = Regularised(queryset, images, options.regularise, check)
        if regularised.report is not None:
            manifest["regularisation"] = regularised.report
        progress(0.05, "writing GIS files")
        files: dict[str, object] = gis.write_gis(
            formats & {"geojson", "gpkg", "shapefile"},
            out_dir,
            lambda image_id: regularised.apply(
                _checked(iter_batches(queryset if image_id is None else queryset.filter(image_id=image_id)), check)
            ),
            images,
            options.crs,
            gis.attribute_columns(classes),
        )
        if formats & {ExportFormat.COCO, ExportFormat.YOLO, ExportFormat.MASKS, ExportFormat.STAC}:
            progress(0.3, "cutting chips")
            chip_files = _write_chips(export, out_dir, formats, options, images, queryset, progress, check, regularised)
            counts["chips"] = chip_files.pop("chips")
            counts["chip_objects"] = chip_files.pop("objects")
            counts["guard_chips"] = chip_files.pop("guard_chips")
            files.update(chip_files)
        manifest["counts"] = counts
        manifest["files"] = files
        (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        progress(0.92, "zipping")
        zip_path = Path(tmp) / "export.zip"
        size = zip_export(out_dir, zip_path, between_files=check)
        key = f"{export.storage_prefix}/geoprompt-export-{export.pk}.zip"
        check()
        get_storage().put_file(zip_path, key)
    check(now=True)  # a cancel that came during the upload is seen before the row says "ready"
    export.counts = counts
    export.size_bytes = size
    export.archive_key = key
    export.finished_at = timezone.now()
    export.save(update_fields=["counts", "size_bytes", "archive_key", "finished_at"])
    return export


@jobs.register(JobKind.EXPORT)
def run_export_job(job: Job) -> str:
    """Runner of ``export`` jobs: build the export the row points to and store its zip."""
    export = Export.objects.select_related("project", "created_by").get(pk=job.target_id)
    export = build_export(export, progress=job.set_progress)
    return f"{export.counts.get('annotations', 0)} annotations, {export.size_bytes} bytes"
