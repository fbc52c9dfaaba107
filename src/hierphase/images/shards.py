"""The image shard format shared by every image dataset (ImageNet, digits).

A shard is a ``.pt`` file written with :func:`hierphase.io.save_tensors` holding
``images``: uint8 (N, C, H, W) in [0, 255]; ``labels``: int64 (N,) (the dataset's own labels,
used for selection and bookkeeping, not by the class-kept observable); ``names``: list of N
strings identifying each image (file name, or dataset index). Models and classifiers take floats
in [-1, 1]: :func:`to_model_scale` and :func:`to_uint8` convert.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import torch

from ..io import load_tensors, save_tensors
from .settings import shard_bounds

__all__ = ["write_shard", "read_shard", "to_model_scale", "to_uint8", "shard_bounds"]


def write_shard(path: str | os.PathLike, images: torch.Tensor, labels: Sequence[int] | torch.Tensor,
                names: Sequence[str], config: dict | None = None, seed: int | None = None,
                **extra: Any) -> None:
    """Validate and write one shard atomically (plus its ``.meta.json`` sidecar)."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"shard images must be uint8 (N, C, H, W), got {images.dtype} "
                         f"{tuple(images.shape)}")
    labels = torch.as_tensor(labels, dtype=torch.long)
    names = [str(n) for n in names]
    if not (images.shape[0] == labels.shape[0] == len(names)):
        raise ValueError("shard images, labels and names differ in length")
    save_tensors(path, {"images": images.contiguous(), "labels": labels, "names": names},
                 config=config, seed=seed, n=images.shape[0], shape=list(images.shape[1:]),
                 **extra)


def read_shard(path: str | os.PathLike) -> dict[str, Any]:
    """``{"images": uint8 (N, C, H, W), "labels": int64 (N,), "names": [str]}``."""
    shard = load_tensors(path)
    missing = {"images", "labels", "names"} - set(shard)
    if missing:
        raise ValueError(f"{path} is not an image shard (missing {sorted(missing)})")
    return shard


def to_model_scale(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (``x / 127.5 - 1``, as OpenAI's data loader)."""
    return images.float() / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8, rounding and clamping (as OpenAI's sampler saves images)."""
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


