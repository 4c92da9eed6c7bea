"""The SAM 2.1 image models by name: plain data, with neither torch nor Django.

``backend/settings.py`` checks ``GEOPROMPT_SAM2_MODEL`` against :data:`MODELS` at start-up,
so this module must stay importable before Django is configured. The loader that builds
these models is :mod:`annotator.sam2.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

CHECKPOINT_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824"


@dataclass(frozen=True)
class ModelSpec:
    """One SAM 2.1 image model: its Hydra config (inside the ``sam2`` package) and checkpoint."""

    name: str
    config: str
    checkpoint_file: str
    approx_checkpoint_mib: int

    @property
    def url(self) -> str:
        """The official download URL of the checkpoint."""
        return f"{CHECKPOINT_BASE_URL}/{self.checkpoint_file}"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("sam2.1_hiera_tiny", "configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt", 149),
        ModelSpec("sam2.1_hiera_small", "configs/sam2.1/sam2.1_hiera_s.yaml", "sam2.1_hiera_small.pt", 176),
        ModelSpec("sam2.1_hiera_base_plus", "configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_hiera_base_plus.pt", 309),
        ModelSpec("sam2.1_hiera_large", "configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_large.pt", 857),
    )
}
# The model of new projects when GEOPROMPT_SAM2_MODEL is not set: the smallest, fine on a CPU.
DEFAULT_MODEL = "sam2.1_hiera_tiny"
