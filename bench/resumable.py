"""Benchmark (not a test): the storage path of a resumable upload against a plain one, same run.

A file of ``--mib`` MiB of random bytes is stored three ways in a throwaway local storage
root (``GEOPROMPT_STORAGE_URL`` is not touched):

- ``baseline``: one ``Storage.put_stream`` of the whole file (what a multipart upload's
  service does once Django has the file);
- ``parts``: the tus PATCH path, part by part of ``--chunk-mib`` MiB, each read through the
  checksumming reader and written as its own object (:mod:`annotator.imagery.resumable`);
- ``assemble``: the ingest job's first step, streaming the parts into one original.

Prints seconds, MiB/s, the ratio to the baseline, and the growth of the process's peak RSS
during each step (it must not grow with the file: parts and assembly stream in blocks of
1 MiB); the last line is one JSON object. Results go to ``bench/results/resumable.{md,json}``
with ``--save``.

    GEOPROMPT_DEBUG=true .venv/bin/python bench/resumable.py [--mib 512] [--chunk-mib 32] [--save]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("GEOPROMPT_DEBUG", "true")

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class RandomFile(io.RawIOBase):
    """``size`` bytes of a repeating random 8 MiB block, read in pieces (never whole in memory)."""

    def __init__(self, size: int, block: bytes):
        self.size, self.block, self.pos = size, block, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n is None or n < 0 else min(n, self.size - self.pos)
        start = self.pos % len(self.block)
        data = (self.block[start:] + self.block)[:n] if start + n > len(self.block) else self.block[start : start + n]
        self.pos += len(data)
        return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--chunk-mib", type=int, default=32)
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from annotator.imagery.resumable import READ_BLOCK, _ConcatenatedParts, _CountingReader
    from annotator.storage import Storage

    size, chunk = args.mib * MIB, args.chunk_mib * MIB
    block = os.urandom(8 * MIB)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="geoprompt-bench-") as root:
        storage = Storage(root)
        # Bind the storage the resumable module reads parts through to this root.
        import annotator.imagery.resumable as resumable

        resumable.get_storage = lambda: storage

        rss0 = peak_rss_mib()
        t = time.perf_counter()
        storage.put_stream(RandomFile(size, block), "baseline/original.tif", chunk_size=READ_BLOCK)
        figures["baseline_s"] = time.perf_counter() - t
        figures["baseline_rss_growth_mib"] = peak_rss_mib() - rss0

        rss0 = peak_rss_mib()
        t = time.perf_counter()
        source, parts, offset = RandomFile(size, block), [], 0
        while offset < size:
            n = min(chunk, size - offset)
            reader = _CountingReader(source, n)
            key = f"uploads/x/parts/{offset:020d}"
            storage.put_stream(reader, key, chunk_size=READ_BLOCK)
            reader.sha1.digest()
            parts.append([offset, n, key])
            offset += n
        figures["parts_s"] = time.perf_counter() - t
        figures["parts_rss_growth_mib"] = peak_rss_mib() - rss0

        rss0 = peak_rss_mib()
        t = time.perf_counter()
        stream = _ConcatenatedParts(parts)
        written = storage.put_stream(stream, "assembled/original.tif", chunk_size=READ_BLOCK)
        figures["assemble_s"] = time.perf_counter() - t
        figures["assemble_rss_growth_mib"] = peak_rss_mib() - rss0
        assert written == size

        def digest(key: str) -> str:
            h = hashlib.sha256()
            with storage.open_read(key) as fh:
                while data := fh.read(8 * MIB):
                    h.update(data)
            return h.hexdigest()

        same = digest("baseline/original.tif") == digest("assembled/original.tif")

    result = {
        "file_mib": args.mib,
        "chunk_mib": args.chunk_mib,
        "parts": len(parts),
        "same_bytes": same,
        **{k: round(v, 3) for k, v in figures.items()},
        "baseline_mib_s": round(args.mib / figures["baseline_s"], 1),
        "parts_mib_s": round(args.mib / figures["parts_s"], 1),
        "assemble_mib_s": round(args.mib / figures["assemble_s"], 1),
        "resumable_total_vs_baseline": round((figures["parts_s"] + figures["assemble_s"]) / figures["baseline_s"], 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, local disk",
    }
    lines = [
        f"file {args.mib} MiB in {len(parts)} parts of {args.chunk_mib} MiB (local storage); same bytes: {same}",
        f"baseline put_stream : {figures['baseline_s']:.2f} s ({result['baseline_mib_s']} MiB/s), "
        f"peak RSS +{figures['baseline_rss_growth_mib']:.0f} MiB",
        f"tus parts (sha1)    : {figures['parts_s']:.2f} s ({result['parts_mib_s']} MiB/s), "
        f"peak RSS +{figures['parts_rss_growth_mib']:.0f} MiB",
        f"assemble            : {figures['assemble_s']:.2f} s ({result['assemble_mib_s']} MiB/s), "
        f"peak RSS +{figures['assemble_rss_growth_mib']:.0f} MiB",
        f"resumable (parts + assemble) / baseline: {result['resumable_total_vs_baseline']}x",
    ]
    print("\n".join(lines))
    print(json.dumps(result))
    if args.save:
        out = REPO / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "resumable.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "resumable.md").write_text(
            "# bench/resumable.py\n\n" + f"Machine: {result['machine']}\n\n```\n" + "\n".join(lines) + "\n```\n"
        )


if __name__ == "__main__":
    main()
