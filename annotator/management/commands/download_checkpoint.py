"""Download an official SAM 2.1 checkpoint into settings.SAM2_CHECKPOINT_DIR."""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.request
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotator.sam2.registry import MODELS, checkpoint_path, get_spec

CHUNK = 1024 * 1024


class Command(BaseCommand):
    help = (
        "Download an official SAM 2.1 checkpoint (needs network access). The file is written "
        "atomically and its SHA-256 recorded beside it; a failed download leaves nothing behind."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", choices=list(MODELS), help="the model whose checkpoint to fetch")
        parser.add_argument("--url", default="", help="download from this URL instead of the official one")
        parser.add_argument("--force", action="store_true", help="download even if the file exists")
        parser.add_argument("--timeout", type=float, default=60.0, help="network timeout, seconds")

    def handle(self, *args, model: str, url: str, force: bool, timeout: float, **options):
        spec = get_spec(model)
        target = checkpoint_path(model)
        if target.exists() and not force:
            self.stdout.write(f"{target} already exists (use --force to download it again).")
            return
        source = url or spec.url
        if not source.startswith(("https://", "http://", "file://")):
            raise CommandError(f"unsupported URL {source!r}")
        Path(settings.SAM2_CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")
        sha = hashlib.sha256()
        try:
            with urllib.request.urlopen(source, timeout=timeout) as response, open(tmp, "wb") as out:  # noqa: S310
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=spec.checkpoint_file, file=self.stderr) as bar:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        sha.update(chunk)
                        bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
                if total is not None and out.tell() != total:
                    raise CommandError(f"the download stopped after {out.tell()} of {total} bytes")
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            if isinstance(exc, CommandError | KeyboardInterrupt):
                raise
            raise CommandError(f"downloading {source} failed: {exc}") from exc
        digest = sha.hexdigest()
        stat = target.stat()
        target.with_name(target.name + ".sha256").write_text(f"{digest} {stat.st_size}:{stat.st_mtime_ns}\n")
        self.stdout.write(f"{target}: {stat.st_size} bytes, sha256 {digest}")
