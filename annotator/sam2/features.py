"""The SAM2 feature store: fp16 safetensors files in storage, and a per-process LRU.

One file per encoder window holds three tensors (batch dimension dropped):

- ``image_embed``: float16 [256, 64, 64]
- ``high_res_feats_0``: float16 [32, 256, 256]
- ``high_res_feats_1``: float16 [64, 128, 128]

8 MiB per window. safetensors cannot execute code when loaded (unlike pickle). Writes go
through :mod:`annotator.storage`, so they are atomic on every backend.
The in-memory cache keeps decoder-ready tensors (float32 on the model's device) up to a
byte budget (``settings.SAM2_FEATURE_CACHE_BYTES``), evicting the least recently used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from django.conf import settings
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from annotator.storage import get_storage

FEATURE_NAMES = ("image_embed", "high_res_feats_0", "high_res_feats_1")
FEATURE_SHAPES = {
    "image_embed": (256, 64, 64),
    "high_res_feats_0": (32, 256, 256),
    "high_res_feats_1": (64, 128, 128),
}


@dataclass
class WindowFeatures:
    """Decoder inputs of one window, each with a leading batch dimension of 1.

    ``image_embed`` [1, 256, 64, 64]; ``high_res_feats`` [[1, 32, 256, 256], [1, 64, 128, 128]].
    """

    image_embed: torch.Tensor
    high_res_feats: list[torch.Tensor]

    @property
    def nbytes(self) -> int:
        tensors = [self.image_embed, *self.high_res_feats]
        return sum(t.numel() * t.element_size() for t in tensors)


def encode_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Serialize one window's features as fp16 safetensors bytes (shapes as in the module doc)."""
    missing = set(FEATURE_NAMES) - set(tensors)
    if missing:
        raise ValueError(f"missing feature tensors: {sorted(missing)}")
    payload = {}
    for name in FEATURE_NAMES:
        tensor = tensors[name]
        if tuple(tensor.shape) != FEATURE_SHAPES[name]:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {FEATURE_SHAPES[name]}")
        payload[name] = tensor.detach().to("cpu", torch.float16).contiguous()
    return st_save(payload, metadata=metadata)


def save_window_features(key: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> int:
    """Write one window's features to storage at ``key`` atomically; returns the bytes written."""
    data = encode_bytes(tensors, metadata)
    get_storage().put_bytes(data, key)
    return len(data)


def load_window_tensors(key: str) -> dict[str, torch.Tensor]:
    """The fp16 tensors stored at ``key`` (CPU, shapes as in the module doc)."""
    return st_load(get_storage().read_bytes(key))


def to_decoder_inputs(
    tensors: dict[str, torch.Tensor], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> WindowFeatures:
    """fp16 stored tensors → decoder-ready :class:`WindowFeatures` on ``device``.

    The high-resolution features are laid out channels-last, which :mod:`decoder` reads
    without copying; as NCHW tensors they are the same values for any other consumer.
    """
    return WindowFeatures(
        image_embed=tensors["image_embed"].to(device, dtype)[None],
        high_res_feats=[
            tensors[name].to(device, dtype)[None].contiguous(memory_format=torch.channels_last)
            for name in ("high_res_feats_0", "high_res_feats_1")
        ],
    )


class FeatureCache:
    """A thread-safe LRU of :class:`WindowFeatures` bounded by total tensor bytes.

    A window larger than the whole budget is returned but not kept.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, WindowFeatures] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def get(self, key: str) -> WindowFeatures | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return item

    def put(self, key: str, item: WindowFeatures) -> None:
        size = item.nbytes
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key).nbytes
            if size > self.max_bytes:
                return
            self._items[key] = item
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _old_key, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes

    def get_or_load(self, key: str, loader: Callable[[], WindowFeatures]) -> tuple[WindowFeatures, bool]:
        """The cached item, or ``loader()``'s result cached; returns ``(item, was_cached)``.

        Concurrent requests for the same missing key load it once.
        """
        item = self.get(key)
        if item is not None:
            return item, True
        with self._lock:
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            item = self.get(key)
            if item is not None:
                return item, True
            self.misses += 1
            item = loader()
            self.put(key, item)
        with self._lock:
            self._loading.pop(key, None)
        return item, False


_cache: FeatureCache | None = None
_cache_lock = threading.Lock()


def feature_cache() -> FeatureCache:
    """This process's feature cache, sized by ``settings.SAM2_FEATURE_CACHE_BYTES``."""
    global _cache
    with _cache_lock:
        if _cache is None or _cache.max_bytes != settings.SAM2_FEATURE_CACHE_BYTES:
            _cache = FeatureCache(settings.SAM2_FEATURE_CACHE_BYTES)
        return _cache
