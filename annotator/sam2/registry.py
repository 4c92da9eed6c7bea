"""The SAM 2.1 image models Geoprompt can use, their checkpoints, and a per-process loader.

A project picks one model by name (``Project.sam2_model``) from :data:`MODELS` (kept in
:mod:`annotator.sam2.catalog`, which settings can import). Checkpoints are plain files
named like the official ones (``sam2.1_hiera_tiny.pt``) in ``settings.SAM2_CHECKPOINT_DIR``;
they are never fetched at request time (``manage.py download_checkpoint`` does that for
users who are online). Without a checkpoint, and only when
``settings.SAM2_ALLOW_UNTRAINED`` is true, the same code builds the real architecture with
untrained weights drawn from ``settings.SAM2_UNTRAINED_SEED``: everything runs, but the
masks mean nothing, and every result says ``untrained``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from django.conf import settings

from annotator.errors import CheckpointMissing, InvalidInput
from annotator.sam2.catalog import MODELS, ModelSpec

logger = logging.getLogger(__name__)

MODEL_CHOICES = [(name, name) for name in MODELS]


def _missing(name: str) -> CheckpointMissing:
    spec = MODELS[name]
    ckpt = checkpoint_path(name)
    return CheckpointMissing(
        f"The SAM2 checkpoint {ckpt} does not exist. Download it with "
        f"'python manage.py download_checkpoint {name}' (or copy {spec.url} there), "
        "or set GEOPROMPT_SAM2_ALLOW_UNTRAINED=true to run with untrained weights (meaningless masks)."
    )


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; unknown names are an input error."""
    try:
        return MODELS[name]
    except KeyError:
        raise InvalidInput(
            f"Unknown SAM2 model {name!r}; choose one of {', '.join(MODELS)}.", field="sam2_model"
        ) from None


def checkpoint_path(name: str) -> Path:
    """Where the checkpoint of model ``name`` is looked up (it may not exist)."""
    return Path(settings.SAM2_CHECKPOINT_DIR) / get_spec(name).checkpoint_file


def digest_file(path: Path, chunk_size: int = 8 * 1024 * 1024) -> str:
    """SHA-256 of a file, hex."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            sha.update(chunk)
    return sha.hexdigest()


def checkpoint_digest(path: Path) -> str:
    """SHA-256 of a checkpoint, from its ``.sha256`` sidecar when it matches the file's size and time."""
    sidecar = path.with_name(path.name + ".sha256")
    stat = path.stat()
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    if sidecar.exists():
        parts = sidecar.read_text().split()
        if len(parts) == 2 and parts[1] == stamp:
            return parts[0]
    digest = digest_file(path)
    # A read-only checkpoint folder is fine: the digest is then recomputed next time.
    with contextlib.suppress(OSError):
        sidecar.write_text(f"{digest} {stamp}\n")
    return digest


def untrained_digest(name: str, seed: int) -> str:
    """A stable identity for untrained weights (same model, seed and torch build → same weights)."""
    text = f"untrained:{name}:seed={seed}:torch={torch.__version__.split('+')[0]}"
    return "untrained-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def resolve_device(device: str | None = None) -> torch.device:
    """``settings.SAM2_DEVICE`` (``auto``, ``cpu``, ``cuda``) as a torch device."""
    choice = device or settings.SAM2_DEVICE
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


@dataclass(frozen=True)
class LoadedModel:
    """A SAM2 model ready for inference, with the identity of its weights."""

    name: str
    model: torch.nn.Module
    checkpoint_digest: str
    untrained: bool
    device: torch.device


_cache: dict[tuple[str, str, str, bool, int], LoadedModel] = {}
_lock = threading.Lock()


def _build(spec: ModelSpec, ckpt: Path | None, device: torch.device) -> torch.nn.Module:
    from sam2.build_sam import build_sam2

    # Weights are built on the CPU and then moved, so a seeded untrained model is the same
    # on every machine and every process (the encoder worker and the web decoder agree).
    model = build_sam2(spec.config, ckpt_path=str(ckpt) if ckpt else None, device="cpu")
    return model.to(device).eval()


def load_model(name: str, device: str | None = None) -> LoadedModel:
    """The model ``name``, built once per process and device.

    Uses the checkpoint file when it exists. Otherwise, if ``settings.SAM2_ALLOW_UNTRAINED``
    is true, builds the same architecture with untrained weights seeded from
    ``settings.SAM2_UNTRAINED_SEED``; if not, raises :class:`CheckpointMissing` saying how
    to get one.
    """
    spec = get_spec(name)
    torch_device = resolve_device(device)
    ckpt = checkpoint_path(name)
    key = (name, str(torch_device), str(ckpt), bool(settings.SAM2_ALLOW_UNTRAINED), settings.SAM2_UNTRAINED_SEED)
    with _lock:
        if key in _cache:
            return _cache[key]
        if ckpt.exists():
            model = _build(spec, ckpt, torch_device)
            loaded = LoadedModel(name, model, checkpoint_digest(ckpt), False, torch_device)
        elif settings.SAM2_ALLOW_UNTRAINED:
            logger.warning("no checkpoint at %s: using UNTRAINED %s weights (masks are meaningless)", ckpt, name)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(settings.SAM2_UNTRAINED_SEED)
                model = _build(spec, None, torch_device)
            loaded = LoadedModel(name, model, untrained_digest(name, settings.SAM2_UNTRAINED_SEED), True, torch_device)
        else:
            raise _missing(name)
        _cache[key] = loaded
        return loaded


def model_identity(name: str) -> tuple[str, bool]:
    """``(checkpoint_digest, untrained)`` that :func:`load_model` would give, without building it."""
    ckpt = checkpoint_path(name)
    if ckpt.exists():
        return checkpoint_digest(ckpt), False
    if settings.SAM2_ALLOW_UNTRAINED:
        return untrained_digest(name, settings.SAM2_UNTRAINED_SEED), True
    raise _missing(name)
