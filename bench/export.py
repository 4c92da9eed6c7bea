"""Benchmark (not a test): export 10,000 approved polygons over a 10,000 x 10,000 image.

Builds a synthetic 3-band uint8 GeoTIFF (tiled, deflate; EPSG:26914, 0.5 m pixels) and
10,000 irregular approved polygons (10-60 px radius, three classes) in a throwaway database
(``test_<name>``), then runs two exports, each in a fresh child process so that its peak
memory is its own:

- ``gpkg``: GeoPackage in EPSG:4326;
- ``coco``: COCO instance segmentation, 1024 px chips, no overlap (default options).

For each it prints seconds and peak resident memory (``ru_maxrss`` of the child, which
includes the interpreter, Django, GDAL and whatever ``django.setup()`` imports; the
resident memory just before the export starts is printed as the baseline)
and, as the last line, one JSON object with those figures. Goal: each < 30 s and < 1 GiB.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/export.py [--polygons 10000] [--size 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")

EPSG = 26914
PIXEL_M = 0.5
ORIGIN = (500000.0, 5210000.0)  # UTM 14N, North Dakota
MIB = 1024 * 1024


def _maxrss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _rss_mib() -> float:
    """Resident memory of this process now, MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def child(export_id: int) -> None:
    """Run one export in this process and print its figures as JSON."""
    import django

    django.setup()
    from annotator.exports.build import build_export
    from annotator.models import Export

    export = Export.objects.select_related("project", "created_by").get(pk=export_id)
    baseline = _rss_mib()
    start = time.perf_counter()
    export = build_export(export)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "peak_rss_mib": round(_maxrss_mib(), 1),
                "baseline_rss_mib": round(baseline, 1),
                "archive_mib": round(export.size_bytes / MIB, 1),
                "counts": export.counts,
            }
        )
    )


def write_image(path: Path, size: int) -> None:
    """A smooth 3-band uint8 scene with noise, written in strips (tiled, deflate)."""
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": f"EPSG:{EPSG}",
        "transform": Affine(PIXEL_M, 0, ORIGIN[0], 0, -PIXEL_M, ORIGIN[1]),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "num_threads": "all_cpus",
    }
    rng = np.random.default_rng(0)
    cols = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, size, 1024):
            rows = np.arange(top, min(top + 1024, size), dtype=np.float32)[:, None]
            base = 96 + 64 * np.sin(cols / 700.0) * np.cos(rows / 900.0)
            noise = rng.integers(0, 24, (3, len(rows), size), dtype=np.uint8)
            bands = np.stack([base, base * 0.9 + 20, base * 0.7 + 40]).astype(np.uint8) + noise
            dst.write(bands, window=Window(0, top, size, len(rows)))


def make_annotations(project, image, user, classes, count: int, size: int) -> None:
    """``count`` approved irregular polygons in EPSG:4326, bulk-inserted."""
    import numpy as np
    import shapely
    from django.contrib.gis.geos import GEOSGeometry
    from django.utils import timezone
    from pyproj import Geod, Transformer

    from annotator.models import Annotation, AnnotationState

    rng = np.random.default_rng(1)
    to_4326 = Transformer.from_crs(EPSG, 4326, always_xy=True)
    geod = Geod(ellps="WGS84")
    now = timezone.now()
    batch = []
    for k in range(count):
        cx, cy = rng.uniform(80, size - 80, 2)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
        radii = rng.uniform(10, 60) * rng.uniform(0.7, 1.0, 12)
        cols, rows = cx + radii * np.cos(angles), cy + radii * np.sin(angles)
        lon, lat = to_4326.transform(ORIGIN[0] + cols * PIXEL_M, ORIGIN[1] - rows * PIXEL_M)
        polygon = shapely.MultiPolygon([shapely.Polygon(np.column_stack([lon, lat]))])
        area, _ = geod.geometry_area_perimeter(polygon)
        batch.append(
            Annotation(
                project=project,
                image=image,
                label_class=classes[k % len(classes)],
                author=user,
                geometry=GEOSGeometry(memoryview(shapely.to_wkb(polygon)), srid=4326),
                area_m2=abs(area),
                state=AnnotationState.APPROVED,
                submitted_at=now,
                reviewed_at=now,
                reviewed_by=user,
            )
        )
        if len(batch) == 2000:
            Annotation.objects.bulk_create(batch)
            batch = []
    Annotation.objects.bulk_create(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polygons", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=10_000, help="image width = height, pixels")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    storage_dir = tempfile.mkdtemp(prefix="geoprompt-bench-")
    os.environ["GEOPROMPT_STORAGE_URL"] = storage_dir

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.gis.geos import Polygon
    from django.db import connection

    from annotator.choices import ImageStatus
    from annotator.exports.filters import parse_filters
    from annotator.exports.options import parse_options
    from annotator.models import Export, Image, LabelClass, Project
    from annotator.storage import get_storage

    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        s = connection.settings_dict
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        db_url = f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{db_name}"
        user = get_user_model().objects.create_user(username="bench")
        project = Project.objects.create(name="bench")
        classes = [LabelClass.objects.create(project=project, name=n, order=i) for i, n in enumerate("abc")]
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "bench.tif"
            write_image(local, args.size)
            image = Image.objects.create(project=project, name="bench.tif", status=ImageStatus.READY)
            image.cog_key = f"{image.storage_prefix}/cog.tif"
            get_storage().put_file(local, image.cog_key)
        extent = (ORIGIN[0], ORIGIN[1] - args.size * PIXEL_M, ORIGIN[0] + args.size * PIXEL_M, ORIGIN[1])
        footprint = Polygon.from_bbox(extent)
        footprint.srid = EPSG
        footprint.transform(4326)
        image.width = image.height = args.size
        image.band_count, image.dtype, image.epsg = 3, "uint8", EPSG
        from pyproj import CRS

        image.crs_wkt = CRS.from_epsg(EPSG).to_wkt()
        image.geotransform = [ORIGIN[0], PIXEL_M, 0.0, ORIGIN[1], 0.0, -PIXEL_M]
        image.footprint = footprint
        image.band_mapping = [1, 2, 3]
        image.stretch = [[20.0, 230.0]] * 3
        image.save()
        make_annotations(project, image, user, classes, args.polygons, args.size)
        print(f"setup: {args.size}x{args.size} image, {args.polygons} polygons in {time.perf_counter() - start:.1f} s")

        results = {}
        for name, formats in (("gpkg", ["gpkg"]), ("coco", ["coco"])):
            export = Export.objects.create(
                project=project,
                created_by=user,
                formats=formats,
                filters=parse_filters(project, None).as_json(),
                options=parse_options(None).as_json(),
            )
            env = {**os.environ, "GEOPROMPT_DATABASE_URL": db_url, "GEOPROMPT_STORAGE_URL": storage_dir}
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(export.pk)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            results[name] = figures
            print(
                f"{name}: {figures['seconds']:.2f} s, peak RSS {figures['peak_rss_mib']:.0f} MiB "
                f"(baseline {figures['baseline_rss_mib']:.0f} MiB), archive {figures['archive_mib']} MiB, "
                f"counts {figures['counts']}"
            )
        goal = all(r["seconds"] < 30 and r["peak_rss_mib"] < 1024 for r in results.values())
        print(f"goal (each < 30 s and < 1 GiB peak): {'met' if goal else 'NOT met'}")
        print(
            json.dumps(
                {
                    "polygons": args.polygons,
                    "image_px": [args.size, args.size],
                    "cpus": os.cpu_count(),
                    **{
                        f"{name}_{key}": r[key]
                        for name, r in results.items()
                        for key in ("seconds", "peak_rss_mib", "baseline_rss_mib")
                    },
                    "goal_met": goal,
                }
            )
        )
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)
        get_storage().delete_prefix("projects")


if __name__ == "__main__":
    main()
