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

Chips are produced image by image and chip row by chip row; each row fetches only the
annotations that cross it (PostGIS intersects on the row's EPSG:4326 footprint), so memory
holds one chip row's objects at a time.
"""

from __future__ import annotations

import json
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import rasterio
import shapely
import shapely.affinity
from django.contrib.gis.geos import GEOSGeometry
from django.utils import timezone
from PIL import Image as PILImage
from pyproj import CRS, Transformer

from annotator import jobs
from annotator.choices import JobKind
from annotator.errors import InvalidInput
from annotator.exports import gis
from annotator.exports.archive import zip_export
from annotator.exports.chips import Chip, PixelMapper, chip_rows, pixel_rect_4326, plan_chips, read_chip
from annotator.exports.coco import ChipObject, CocoWriter
from annotator.exports.filters import annotation_queryset, filters_from_json, iter_batches
from annotator.exports.masks import mask_array, mask_dtype, write_mask
from annotator.exports.options import SPLIT_NAMES, ExportOptions, options_from_json
from annotator.exports.splits import assign_splits
from annotator.exports.stac import StacWriter
from annotator.exports.yolo import write_data_yaml, write_labels
from annotator.imagery.ingest import GDAL_SAFE_ENV
from annotator.models import Export, ExportFormat, Image, Job, LabelClass
from annotator.storage import get_storage

Progress = Callable[[float, str], None]
PNG_THREADS = 2
PNG_IN_FLIGHT = 4
# Chips are read once each: a small GDAL block cache keeps memory flat on big images (MiB).
CHIP_READ_ENV = {**GDAL_SAFE_ENV, "GDAL_CACHEMAX": 64}


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

    def close(self) -> dict[str, object]:
        while self.png_futures:
            self.png_futures.popleft().result()
        self.png_pool.shutdown()
        files: dict[str, object] = {}
        splits = [name for name, n in self.chips.items() if n]
        if self.coco is not None:
            files["coco"] = self.coco.close()
        if ExportFormat.YOLO in self.formats:
            files["yolo"] = write_data_yaml(self.out_dir, self.class_names, splits)
        if self.stac is not None:
            files["stac"] = self.stac.close()
        return files


def _chip_objects(
    chip: Chip, tree: shapely.STRtree, pixel_geometries, ids, categories: list[int | None]
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
        objects.append(ChipObject(int(ids[k]), categories[k], local))
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
) -> dict[str, object]:
    classes = list(LabelClass.objects.filter(project=export.project).order_by("order", "name", "pk"))
    dataset = ChipDataset(export, out_dir, formats, classes)
    plans = {}
    for image in images:
        if not image.cog_key or not image.geotransform or not (image.crs_wkt or image.epsg):
            raise InvalidInput(f"Image {image.name!r} has no georeferenced COG; it cannot be cut into chips.")
        plans[image.pk] = plan_chips(image, options.chip_size, options.chip_overlap)
    every_chip = [chip for chips in plans.values() for chip in chips]
    split_counts = assign_splits(every_chip, options.splits, options.seed, options.block_chips)
    storage = get_storage()
    done, total = 0, max(len(every_chip), 1)
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
                ids, pixel_geometries, categories = [], [], []
                for batch in iter_batches(queryset.filter(image=image, geometry__intersects=strip_geos)):
                    ids.extend(batch.ids.tolist())
                    pixel_geometries.extend(mapper(batch.geometries).tolist())
                    categories.extend(dataset.category_of.get(c) for c in batch.class_ids.tolist())
                tree = shapely.STRtree(pixel_geometries)
                for chip in row:
                    if chip.guard:
                        done += 1
                        continue
                    objects = _chip_objects(chip, tree, pixel_geometries, ids, categories)
                    done += 1
                    if objects or options.include_empty_chips:
                        rgb, valid = read_chip(src, image, chip)
                        dataset.add(image, chip, rgb, valid, objects)
                progress(0.3 + 0.6 * done / total, f"chips {done}/{total}")
    files = dataset.close()
    files["chips"] = {name: n for name, n in dataset.chips.items()}
    files["objects"] = dataset.objects
    files["guard_chips"] = split_counts["guard"]
    return files


def build_export(export: Export, progress: Progress = _no_progress) -> Export:
    """Run an export: write every requested format, zip them, store the zip, fill the row.

    Args:
        export: the row (filters, formats and options already validated).
        progress: called with (fraction 0..1, message).
    Returns:
        the row with ``counts``, ``size_bytes``, ``archive_key`` and ``finished_at`` set.
    """
    filters = filters_from_json(export.filters)
    options = options_from_json(export.options)
    formats = set(export.formats)
    queryset = annotation_queryset(export.project, filters)
    image_ids = sorted(set(queryset.values_list("image_id", flat=True).distinct()))
    images = list(Image.objects.filter(pk__in=image_ids).order_by("pk"))
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
    }
    with tempfile.TemporaryDirectory(prefix="geoprompt-export-") as tmp:
        out_dir = Path(tmp) / "export"
        out_dir.mkdir()
        progress(0.05, "writing GIS files")
        files: dict[str, object] = gis.write_gis(
            formats & {"geojson", "gpkg", "shapefile"},
            out_dir,
            lambda image_id: iter_batches(queryset if image_id is None else queryset.filter(image_id=image_id)),
            images,
            options.crs,
        )
        if formats & {ExportFormat.COCO, ExportFormat.YOLO, ExportFormat.MASKS, ExportFormat.STAC}:
            progress(0.3, "cutting chips")
            chip_files = _write_chips(export, out_dir, formats, options, images, queryset, progress)
            counts["chips"] = chip_files.pop("chips")
            counts["chip_objects"] = chip_files.pop("objects")
            counts["guard_chips"] = chip_files.pop("guard_chips")
            files.update(chip_files)
        manifest["counts"] = counts
        manifest["files"] = files
        (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        progress(0.92, "zipping")
        zip_path = Path(tmp) / "export.zip"
        size = zip_export(out_dir, zip_path)
        key = f"{export.storage_prefix}/geoprompt-export-{export.pk}.zip"
        get_storage().put_file(zip_path, key)
    export.counts = counts
    export.size_bytes = size
    export.archive_key = key
    export.finished_at = timezone.now()
    export.save(update_fields=["counts", "size_bytes", "archive_key", "finished_at"])
    return export


@jobs.register(JobKind.EXPORT, queue=jobs.DEFAULT_QUEUE)
def run_export_job(job: Job) -> str:
    """Runner of ``export`` jobs: build the export the row points to and store its zip."""
    export = Export.objects.select_related("project", "created_by").get(pk=job.target_id)
    export = build_export(export, progress=job.set_progress)
    return f"{export.counts.get('annotations', 0)} annotations, {export.size_bytes} bytes"
