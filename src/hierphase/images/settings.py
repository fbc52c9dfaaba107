"""Settings of the images branch that the workflow's planning checks (the digits DDPM's training,
the correlation embeddings, the digits classifier's layers, the digits' held-out split, the data
shards' bounds, which classifiers need torchvision), free of torch at import time. The modules
that use them re-export them.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from hierphase.optimisation import check_warmup

__all__ = ["DDPMTrainConfig", "ClassifierTrainConfig", "KINDS", "EmbeddingSpec", "embedding_key", "specs_from_config",
           "DIGITS_LAYERS", "DIGITS_SPATIAL_LAYERS", "DIGITS_PER_CLASS", "n_held_out",
           "check_n_per_class", "shard_bounds", "TORCHVISION_FILES", "torchvision_missing"]

@dataclass(frozen=True)
class DDPMTrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 100
    ema_decay: float = 0.995
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention: bool = True
    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self):
        """Refuse a warm-up the schedule never leaves; messages start with the field's name."""
        check_warmup(self.warmup, self.steps)


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """The digits classifier's training (:func:`hierphase.images.digits_cnn.train_digits_classifier`)."""
    epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    width: int = 32
    max_shift: int = 2
    warmup: int = 20


KINDS = ("classifier", "pixels", "clip")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def embedding_key(name: str, field: str | None = None) -> str:
    """The config key of embedding ``name`` (and one of its fields)."""
    key = f"images.correlations.embeddings.{name}"
    return f"{key}.{field}" if field else key


@dataclass(frozen=True)
class EmbeddingSpec:
    """One embedding of config ``images.correlations.embeddings.<name>``.

    ``kind`` ``classifier`` needs ``layer``; ``pixels`` needs ``patch``; ``clip`` needs
    ``weights``. ``crop``: side of the centre crop taken first (pixels, clip; None = the whole
    image). ``image_size``: side of the images it will see, to check crop and patch against.
    """

    name: str
    kind: str
    image_size: int
    layer: str | None = None
    patch: int | None = None
    crop: int | None = None
    weights: str | None = None

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r}: use letters, digits, _ and -")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        needs = {"classifier": "layer", "pixels": "patch", "clip": "weights"}[self.kind]
        if getattr(self, needs) is None:
            raise ValueError(f"{needs} is required for an embedding of kind {self.kind!r}")
        extra = [f for f in ("layer", "patch", "weights") if f != needs and getattr(self, f)]
        if extra:
            raise ValueError(f"{extra[0]} means nothing for an embedding of kind {self.kind!r}")
        if self.crop is not None:
            if self.kind == "classifier":
                raise ValueError("crop means nothing for an embedding of kind 'classifier' (the "
                                 "classifier sees the whole image)")
            if not 1 <= self.crop <= self.image_size:
                raise ValueError(f"crop must be in [1, {self.image_size}] (images.data.image_size), "
                                 f"got {self.crop}")
        side = self.crop or self.image_size
        if self.kind == "pixels" and (self.patch < 1 or side % self.patch):
            raise ValueError(f"patch {self.patch} must divide the {side}-pixel side "
                             f"({'crop' if self.crop else 'images.data.image_size'})")

def specs_from_config(embeddings: Mapping[str, Mapping], image_size: int) -> list[EmbeddingSpec]:
    """:class:`EmbeddingSpec` per entry of config ``images.correlations.embeddings`` (name ->
    fields), in the config's order."""
    return [EmbeddingSpec(name=name, image_size=image_size, **dict(fields))
            for name, fields in embeddings.items()]


DIGITS_LAYERS = ["stem", "block1", "down1", "block2", "down2", "block3", "pool", "fc", "classifier"]
#: The layers whose output is a feature map (C, H, W): full, half and quarter resolution.
DIGITS_SPATIAL_LAYERS = DIGITS_LAYERS[:DIGITS_LAYERS.index("pool")]


#: Images per class of scikit-learn's digits (``np.bincount(load_digits().target)``), so that the
#: held-out size is known without loading the set (config checks).
DIGITS_PER_CLASS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)


def n_held_out(held_out_fraction: float, n_class: int) -> int:
    """Images of a class of ``n_class`` that :func:`split_digits` holds out."""
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    return int(round(held_out_fraction * n_class))


def check_n_per_class(n_per_class: int, held_out_fraction: float) -> None:
    """Refuse a sweep that asks more images of a class than the digits' held-out split holds."""
    available = min(n_held_out(held_out_fraction, n) for n in DIGITS_PER_CLASS)
    if not 1 <= n_per_class <= available:
        raise ValueError(f"n_per_class must be in [1, {available}]: the digits' held-out split "
                         f"(held_out_fraction={held_out_fraction}) holds {available} images of its "
                         f"smallest class, got n_per_class={n_per_class}")


def shard_bounds(n_items: int, n_shards: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each shard when ``n_items`` are cut as the data stages cut them
    (``np.array_split``: contiguous, sizes differing by at most one, the larger first)."""
    sizes = [len(part) for part in np.array_split(np.arange(n_items), n_shards)]
    stops = np.cumsum(sizes)
    return [(int(stop - size), int(stop)) for size, stop in zip(sizes, stops)]


#: torchvision's ImageNet classifiers, each with the weights file it reads.
TORCHVISION_FILES = {
    "convnext_base": "torchvision's ConvNeXt_Base_Weights.IMAGENET1K_V1 state dict "
                     "(convnext_base-6075fbad.pth)",
    "resnet50": "torchvision's ResNet50_Weights state dict (e.g. resnet50-11ad3fa6.pth)",
    "vit_b_16": "torchvision's ViT_B_16_Weights.IMAGENET1K_V1 state dict (vit_b_16-c867db91.pth)",
}


def torchvision_missing(name: str) -> str | None:
    """Why the classifier ``name`` cannot be built here, or None: torchvision's classifiers need
    torchvision (the package's ``imagenet`` extra), which the CPU-only environment of Linux x86_64
    leaves out (PyPI has no torchvision for PyTorch's CPU build)."""
    if name not in TORCHVISION_FILES or importlib.util.find_spec("torchvision") is not None:
        return None
    return (f"{name!r} is one of torchvision's ImageNet classifiers, and this environment has no "
            "torchvision (the CPU-only environment leaves it out). Make the full environment "
            "with HIERPHASE_TORCH=cuda ./workflow/with-env.sh ... (docs/configuration.md, "
            "\"A CPU-only torch\"), or pip install the package's imagenet extra.")
