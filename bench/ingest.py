"""Benchmark (not a test): ingest seconds and peak memory of large images, against the previous code.

Builds 4-band GeoTIFFs from the reference rasters (``bench/rasters.py``, written block by
block, uncompressed) at two sizes (``--sizes``, default 5,000² and 20,000² px, uint8 with
nodata 0), and, at ``--variant-size`` (5,000² px), a uint16 raster with an alpha band and a
float32 one with NaN nodata over a collar of 10 % of its columns. Each ingest runs in a fresh
Python process set up as a worker is (Django, rasterio) and calls the real functions of
:mod:`annotator.imagery.ingest` in the order ``ingest_image`` does (which also needs a
database row and storage): ``validate``, ``stats``
(:func:`~annotator.imagery.ingest.compute_band_stats` with ``GEOPROMPT_STATS_MAX_PIXELS``),
``footprint``, ``cog`` (:func:`~annotator.imagery.ingest.write_cog` into a scratch folder).

Per step: wall seconds, CPU seconds (the machine is shared: CPU seconds vary less) and the
step's peak resident memory (``VmHWM``, reset before each step); for the whole ingest, the
process's ``ru_maxrss`` (``os.wait4``), MiB, imports included. ``baseline`` rows run the
previous ``compute_band_stats`` and ``write_cog`` (copied below) on the same files in the
same run (``--baseline-sizes`` chooses where, ``--no-baseline`` skips them). Ratios: the
large size over the small one (memory that does not grow with the image stays near 1) and
now over baseline.

Prints a table and, as the last line, one JSON object (``--out`` also writes .json and .md).

    GEOPROMPT_DEBUG=true .venv/bin/python bench/ingest.py [--sizes 5000 20000] [--variant-size 5000]
        [--no-variants] [--no-baseline | --baseline-sizes 5000] [--workdir DIR] [--out bench/results/ingest_cpu]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")

from bench.rasters import RASTERS, write_large_raster  # noqa: E402

# --- the previous code (before bounded ingest), the same-run baseline -------------------------


def baseline_band_stats(src, max_pixels: int) -> list:
    """``compute_band_stats`` before bounded ingest: a decimated read per band, then its mask."""
    import numpy as np

    from annotator.imagery.ingest import BandStats

    factor = max(1, math.ceil(math.sqrt(src.width * src.height / max_pixels)))
    out_h, out_w = max(1, math.ceil(src.height / factor)), max(1, math.ceil(src.width / factor))
    stats = []
    for band in range(1, src.count + 1):
        data = src.read(band, out_shape=(out_h, out_w))
        valid = src.read_masks(band, out_shape=(out_h, out_w)) > 0
        if np.issubdtype(data.dtype, np.floating):
            valid &= np.isfinite(data)
        values = data[valid]
        if values.size == 0:
            stats.append(BandStats(band, 0.0, 0.0, 0.0, 0.0, 0.0))
            continue
        p2, p98 = np.percentile(values, [2, 98])
        stats.append(
            BandStats(
                band=band,
                minimum=float(values.min()),
                maximum=float(values.max()),
                p2=float(p2),
                p98=float(p98),
                valid_fraction=float(values.size / data.size),
            )
        )
    return stats


def baseline_write_cog(src_path: str, dst_path: str) -> None:
    """``write_cog`` before bounded ingest: rio-cogeo with GDAL's default block cache."""
    from rio_cogeo.cogeo import cog_translate, cog_validate
    from rio_cogeo.profiles import cog_profiles

    profile = cog_profiles.get("deflate")
    profile.update({"blockxsize": 512, "blockysize": 512, "BIGTIFF": "IF_SAFER"})
    cog_translate(
        src_path,
        dst_path,
        profile,
        overview_resampling="average",
        in_memory=False,
        quiet=True,
        use_cog_driver=False,
    )
    is_valid, errors, _warnings = cog_validate(dst_path, quiet=True)
    if not is_valid:
        raise RuntimeError(f"invalid COG: {errors}")


# --- one ingest in a child process ------------------------------------------------------------


def vm_mib(field: str) -> float:
    """A ``/proc/self/status`` memory figure (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Start a new peak: ``VmHWM`` becomes the current resident size (Linux ``clear_refs`` 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def child(impl: str, path: str, scratch: str) -> None:
    """Ingest ``path`` step by step; print one JSON line of per-step seconds, CPU seconds and peak MiB."""
    import resource

    import django

    django.setup()
    import rasterio
    from django.conf import settings

    from annotator.imagery import ingest

    stats_fn = baseline_band_stats if impl == "baseline" else ingest.compute_band_stats
    cog_fn = baseline_write_cog if impl == "baseline" else ingest.write_cog
    result: dict = {"rss_after_imports_mib": vm_mib("VmRSS"), "steps": {}}

    def step(name, fn):
        reset_peak()
        before = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        value = fn()
        after = resource.getrusage(resource.RUSAGE_SELF)
        result["steps"][name] = {
            "seconds": time.perf_counter() - t,
            "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
            "peak_rss_mib": vm_mib("VmHWM"),
        }
        return value

    cog = os.path.join(scratch, f"cog-{impl}.tif")
    # The order of ingest_image: validate, statistics and footprint on the open source, then the COG.
    with rasterio.Env(**ingest.GDAL_SAFE_ENV):
        with ingest._open(path) as src:
            step("validate", lambda: ingest._validate(src))
            stats = step("stats", lambda: stats_fn(src, settings.STATS_MAX_PIXELS))
            step("footprint", lambda: ingest.footprint_4326(src))
        step("cog", lambda: cog_fn(path, cog))
    result["cog_mib"] = round(os.path.getsize(cog) / 2**20, 1)
    os.unlink(cog)
    result["band_stats"] = [s.as_dict() for s in stats]
    print(json.dumps(result))


def run_ingest(impl: str, path: Path, scratch: Path) -> dict:
    """The ingest in a fresh process: per-step figures and the whole process's peak resident MiB."""
    out_path, err_path = scratch / "child.out", scratch / "child.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", impl, str(path), str(scratch)], cwd=REPO, stdout=out, stderr=err
        )
        # wait4, not wait(): it gives this child's own resource usage (ru_maxrss in KiB).
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"ingest ({impl}) of {path.name} failed:\n{err_path.read_text()[-3000:]}")
    figures = json.loads(out_path.read_text().strip().splitlines()[-1])
    figures["peak_rss_mib"] = usage.ru_maxrss / 1024
    figures["seconds"] = sum(s["seconds"] for s in figures["steps"].values())
    figures["cpu_seconds"] = sum(s["cpu_seconds"] for s in figures["steps"].values())
    return figures


def machine() -> dict:
    """The machine the figures come from: cores, CPU model, memory, load average (1, 5, 15 min)."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "unknown")
    mem = next((int(line.split()[1]) // 1024 for line in meminfo if line.startswith("MemTotal")), 0)
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_mib": mem, "loadavg": list(os.getloadavg())}


VARIANTS = {
    # name: (source, builder options)
    "uint8": ("naip_rgbn_utm14_2020.tif", {}),
    "uint16_alpha": ("rgba_uint16_utm12.tif", {}),
    "float32_nan": ("naip_rgbn_utm14_2020.tif", {"dtype": "float32", "nodata": float("nan"), "nodata_columns": 0.1}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=[5000, 20000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--variant-size", type=int, default=5000)
    parser.add_argument("--no-variants", action="store_true")
    parser.add_argument("--no-baseline", action="store_true", help="skip the previous code")
    parser.add_argument("--baseline-sizes", type=int, nargs="*", default=None, help="sizes the baseline runs at")
    parser.add_argument("--workdir", default=None, help="keep the built rasters here for the next run")
    parser.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    args = parser.parse_args()

    from django.conf import settings

    host = machine()
    print(f"machine: {host['nproc']} cores, {host['cpu_model']}, {host['mem_mib']} MiB, load {host['loadavg']}")
    print(f"GEOPROMPT_STATS_MAX_PIXELS={settings.STATS_MAX_PIXELS}")
    cases = [("uint8", size) for size in args.sizes]
    if not args.no_variants:
        cases += [("uint16_alpha", args.variant_size), ("float32_nan", args.variant_size)]
    baseline_sizes = set(args.sizes if args.baseline_sizes is None else args.baseline_sizes)
    rows = []
    with tempfile.TemporaryDirectory(prefix="geoprompt-bench-ingest-", dir=args.workdir) as scratch:
        keep = Path(args.workdir) if args.workdir else Path(scratch)
        for variant, size in cases:
            source, options = VARIANTS[variant]
            path = keep / f"bench-ingest-{variant}_{size}.tif"
            if not path.exists():
                t = time.monotonic()
                write_large_raster(RASTERS / source, path.with_suffix(".part"), size, **options)
                path.with_suffix(".part").rename(path)
                print(f"built {path.name} in {time.monotonic() - t:.0f} s")
            print(f"\n{variant} {size}² px, {path.stat().st_size / 2**20:.0f} MiB uncompressed")
            impls = ["now"] if args.no_baseline or size not in baseline_sizes else ["baseline", "now"]
            for impl in impls:
                figures = run_ingest(impl, path, Path(scratch))
                rows.append({"variant": variant, "size": size, "impl": impl, **figures})
                print(
                    f"  {impl:<8} ingest    {figures['seconds']:7.1f} s (CPU {figures['cpu_seconds']:6.1f} s)"
                    f"  peak RSS {figures['peak_rss_mib']:6.0f} MiB  (after imports"
                    f" {figures['rss_after_imports_mib']:.0f} MiB)  COG {figures['cog_mib']} MiB"
                )
                for name, f in figures["steps"].items():
                    print(
                        f"  {'':<8} {name:<9} {f['seconds']:7.1f} s (CPU {f['cpu_seconds']:6.1f} s)"
                        f"  peak RSS {f['peak_rss_mib']:6.0f} MiB"
                    )
            if not args.workdir:
                path.unlink()
    host["loadavg_end"] = list(os.getloadavg())

    def find(variant, size, impl):
        return next((r for r in rows if (r["variant"], r["size"], r["impl"]) == (variant, size, impl)), None)

    def ratio(a: dict, b: dict) -> dict:
        """b over a: wall and CPU seconds and peak RSS, for the whole ingest and each step."""
        out = {
            "seconds": round(b["seconds"] / max(a["seconds"], 1e-9), 2),
            "cpu_seconds": round(b["cpu_seconds"] / max(a["cpu_seconds"], 1e-9), 2),
            "peak_rss": round(b["peak_rss_mib"] / a["peak_rss_mib"], 2),
        }
        for name in b["steps"]:
            sa, sb = a["steps"][name], b["steps"][name]
            out[name] = {
                "cpu_seconds": round(sb["cpu_seconds"] / max(sa["cpu_seconds"], 1e-9), 2),
                "peak_rss": round(sb["peak_rss_mib"] / sa["peak_rss_mib"], 2),
            }
        return out

    small, large = args.sizes
    ratios: dict = {"large_over_small": {}, "now_over_baseline": {}}
    for impl in ("baseline", "now"):
        a, b = find("uint8", small, impl), find("uint8", large, impl)
        if a and b:
            ratios["large_over_small"][impl] = ratio(a, b)
    for variant, size in cases:
        a, b = find(variant, size, "baseline"), find(variant, size, "now")
        if a and b:
            ratios["now_over_baseline"][f"{variant}_{size}"] = ratio(a, b)
    ingest_large = find("uint8", large, "now")
    summary = {
        "machine": host,
        "stats_max_pixels": settings.STATS_MAX_PIXELS,
        "ingest_s": round(ingest_large["seconds"], 1),
        "ingest_cpu_s": round(ingest_large["cpu_seconds"], 1),
        "ingest_peak_rss_mib": round(ingest_large["peak_rss_mib"]),
        "size": large,
        "rows": [{k: v for k, v in r.items() if k != "band_stats"} for r in rows],
        "ratios": ratios,
    }
    print("\nratios (b over a: whole ingest; peak RSS of the stats and cog steps):")
    for kind, by_name in ratios.items():
        for name, r in by_name.items():
            print(
                f"  {kind:<18} {name:<18} seconds x{r['seconds']:<5} CPU x{r['cpu_seconds']:<5}"
                f" peak RSS x{r['peak_rss']:<5} stats x{r['stats']['peak_rss']:<5} cog x{r['cog']['peak_rss']}"
            )
    if args.out:
        out = Path(args.out)
        out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
        lines = [
            "# Ingest of large images (bench/ingest.py)",
            "",
            f"Machine: {host['nproc']} cores, {host['cpu_model']}, {host['mem_mib']} MiB; load average "
            f"{host['loadavg']} at the start, {host['loadavg_end']} at the end (a shared machine: compare CPU"
            " seconds more than wall seconds).",
            f"GEOPROMPT_STATS_MAX_PIXELS = {settings.STATS_MAX_PIXELS}. One fresh process per ingest; the peak"
            " RSS of a step is the process's VmHWM reset before it, the whole ingest's is its ru_maxrss"
            " (imports included).",
            "",
            "| raster | px | code | step | seconds | CPU seconds | peak RSS MiB |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['variant']} | {r['size']}² | {r['impl']} | **ingest** | {r['seconds']:.1f} | "
                f"{r['cpu_seconds']:.1f} | **{r['peak_rss_mib']:.0f}** |"
            )
            for name, f in r["steps"].items():
                lines.append(
                    f"| | | | {name} | {f['seconds']:.1f} | {f['cpu_seconds']:.1f} | {f['peak_rss_mib']:.0f} |"
                )
        lines += ["", "Ratios:", "", "```", json.dumps(ratios, indent=1), "```", ""]
        out.with_suffix(".md").write_text("\n".join(lines))
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
