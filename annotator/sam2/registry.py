"""The SAM 2.1 image models Geoprompt can use, their checkpoints, and a per-process loader.

A project picks one model by name (``Project.sam2_model``) from :data:`MODELS` (kept in
:mod:`annotator.sam2.catalog`, which settings can import). Checkpoints are plain files
named like the official ones (``sam2.1_hiera_tiny.pt``) in ``settings.SAM2_CHECKPOINT_DIR``;
they are never fetched at request time (``manage.py download_checkpoint`` does that for
users who are online). Without a checkpoint, and only when
``settings.SAM2_ALLOW_UNTRAINED`` is true, the same code builds the real architecture with
untrained weights drawn from ``settings.SAM2_UNTRAINED_SEED``: everything runs, but the
masks mean nothing, and every result says ``untrained``.

The web process only decodes: :func:`load_decoder` builds SAM2's prompt encoder and mask
decoder alone (:class:`DecoderHeads`, a few MiB) and reads only their weights from the
checkpoint, so it never holds the image encoder (~860 MiB of weights for
``sam2.1_hiera_large``). Untrained heads are drawn from the seed on their own, in the full
model too, so that both loaders give the same weights (tested).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
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
    # The image encoder's untrained weights (hence the cached features) are drawn as they
    # always were; only the decoder heads are drawn on their own (see _build).
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


_cache: dict[tuple[str, str, str, str, bool, int], LoadedModel] = {}
_lock = threading.Lock()
# build_sam2's defaults: the single-mask output falls back to the multimask one when unstable.
_POSTPROCESSING = [
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
]
_HEAD_PREFIXES = ("sam_prompt_encoder.", "sam_mask_decoder.")


class DecoderHeads(torch.nn.Module):
    """SAM2's prompt encoder and mask decoder without the rest of the model.

    Built by ``SAM2Base._build_sam_heads`` itself from the model's Hydra config, so the
    modules and their hyperparameters are SAM2's; it has the attributes that decoding reads
    (``sam_prompt_encoder``, ``sam_mask_decoder``, ``image_size``, in pixels).
    """

    def __init__(self, config: str):
        from hydra import compose
        from omegaconf import OmegaConf
        from sam2.modeling.sam2_base import SAM2Base

        super().__init__()
        cfg = compose(config_name=config, overrides=_POSTPROCESSING)
        OmegaConf.resolve(cfg)
        options = {
            name: parameter.default
            for name, parameter in inspect.signature(SAM2Base.__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        submodules = ("_target_", "image_encoder", "memory_attention", "memory_encoder")
        options.update({k: v for k, v in OmegaConf.to_container(cfg.model).items() if k not in submodules})
        for name, value in options.items():
            setattr(self, name, value)
        # What SAM2Base.__init__ derives from its submodules, read from their config instead.
        self.hidden_dim = cfg.model.image_encoder.neck.d_model
        self.mem_dim = cfg.model.memory_encoder.get("out_dim", self.hidden_dim)
        SAM2Base._build_sam_heads(self)
        # Object pointers are for video tracking; decoding never reads them.
        del self.obj_ptr_proj, self.obj_ptr_tpos_proj


def _seeded_heads(spec: ModelSpec, seed: int) -> DecoderHeads:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DecoderHeads(spec.config)


def _head_weights(ckpt: Path) -> dict[str, torch.Tensor]:
    """The prompt encoder's and mask decoder's tensors of a checkpoint, without reading the others.

    The file is memory-mapped, so the image encoder's weights are never read into memory.
    """
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)["model"]
    except RuntimeError:  # a checkpoint in torch's legacy (non-zip) format cannot be mapped
        state = torch.load(ckpt, map_location="cpu", weights_only=True)["model"]
    return {k: v.clone() for k, v in state.items() if k.startswith(_HEAD_PREFIXES)}


def _build(spec: ModelSpec, ckpt: Path | None, device: torch.device) -> torch.nn.Module:
    from sam2.build_sam import build_sam2

    # Weights are built on the CPU and then moved, so a seeded untrained model is the same
    # on every machine and every process (the encoder worker and the web decoder agree).
    model = build_sam2(spec.config, ckpt_path=str(ckpt) if ckpt else None, device="cpu")
    if ckpt is None:
        heads = _seeded_heads(spec, settings.SAM2_UNTRAINED_SEED)
        model.sam_prompt_encoder.load_state_dict(heads.sam_prompt_encoder.state_dict())
        model.sam_mask_decoder.load_state_dict(heads.sam_mask_decoder.state_dict())
    return model.to(device).eval()


def _build_heads(spec: ModelSpec, ckpt: Path | None, device: torch.device) -> torch.nn.Module:
    if ckpt is None:
        heads = _seeded_heads(spec, settings.SAM2_UNTRAINED_SEED)
    else:
        heads = DecoderHeads(spec.config)
        heads.load_state_dict(_head_weights(ckpt), strict=True)
    return heads.to(device).eval()


def _load(name: str, device: str | None, part: str) -> LoadedModel:
    spec = get_spec(name)
    torch_device = resolve_device(device)
    ckpt = checkpoint_path(name)
    key = (part, name, str(torch_device), str(ckpt), bool(settings.SAM2_ALLOW_UNTRAINED), settings.SAM2_UNTRAINED_SEED)
    build = _build if part == "full" else _build_heads
    with _lock:
        if key in _cache:
            return _cache[key]
        if ckpt.exists():
            model = build(spec, ckpt, torch_device)
            loaded = LoadedModel(name, model, checkpoint_digest(ckpt), False, torch_device)
        elif settings.SAM2_ALLOW_UNTRAINED:
            logger.warning("no checkpoint at %s: using UNTRAINED %s weights (masks are meaningless)", ckpt, name)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(settings.SAM2_UNTRAINED_SEED)
                model = build(spec, None, torch_device)
            loaded = LoadedModel(name, model, untrained_digest(name, settings.SAM2_UNTRAINED_SEED), True, torch_device)
        else:
            raise _missing(name)
        _cache[key] = loaded
        return loaded


def load_model(name: str, device: str | None = None) -> LoadedModel:
    """The whole model ``name`` (image encoder included), built once per process and device.

    Uses the checkpoint file when it exists. Otherwise, if ``settings.SAM2_ALLOW_UNTRAINED``
    is true, builds the same architecture with untrained weights seeded from
    ``settings.SAM2_UNTRAINED_SEED``; if not, raises :class:`CheckpointMissing` saying how
    to get one.
    """
    return _load(name, device, "full")


def load_decoder(name: str, device: str | None = None) -> LoadedModel:
    """Only the prompt encoder and mask decoder of model ``name`` (:class:`DecoderHeads`), once per process.

    The same weights as :func:`load_model`'s, from the same checkpoint or seed; the same
    errors when neither is available.
    """
    return _load(name, device, "heads")


def model_identity(name: str) -> tuple[str, bool]:
    """``(checkpoint_digest, untrained)`` that :func:`load_model` would give, without building it."""
    ckpt = checkpoint_path(name)
    if ckpt.exists():
        return checkpoint_digest(ckpt), False
    if settings.SAM2_ALLOW_UNTRAINED:
        return untrained_digest(name, settings.SAM2_UNTRAINED_SEED), True
    raise _missing(name)
