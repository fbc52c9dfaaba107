"""The default image set: scikit-learn's handwritten digits, as shards.

scikit-learn ships 1797 handwritten digits (8x8, 17 grey levels, UCI "optdigits" test set) inside
the package, so the images branch runs offline on real data no one here made. This module

- turns them into uint8 shards of the same format as the ImageNet shards (``images`` uint8
  ``(N, C, H, W)``, ``labels`` int64 ``(N,)``, ``names`` list of str), upsampled bilinearly to
  ``image_size`` (default 16): bilinear keeps the strokes smooth, where nearest-neighbour would add
  hard 2x2 block edges that are an artefact of the upsampling, not of the digits, and that the
  diffusion model would then have to spend capacity reproducing;
- splits them deterministically, per class, into a training set (for the DDPM and the classifier)
  and a held-out set (classifier accuracy, and the images the forward-backward sweep starts from),
  written by :func:`write_digits_split`;
- cuts the sweep shards from the held-out set alone (:func:`write_sweep_shards`), so that the
  number of sweep images and their sharding never touch the training data.

The models trained on them: :mod:`hierphase.images.ddpm_training` (the DDPM) and
:mod:`hierphase.images.digits_cnn` (the classifier). Nothing here imports Snakemake.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hierphase.images.settings import DIGITS_PER_CLASS, check_n_per_class, n_held_out
from hierphase.images.shards import read_shard, write_shard
from hierphase.io import read_sidecar
from hierphase.seeding import derive_seed, numpy_generator

__all__ = [
    "N_CLASSES",
    "DIGITS_PER_CLASS",
    "n_held_out",
    "check_n_per_class",
    "load_digits_images",
    "split_digits",
    "write_digits_split",
    "write_sweep_shards",
    "select_per_class",
]

N_CLASSES = 10
_SKLEARN_LEVELS = 16  # sklearn digits take integer values 0..16


def load_digits_images(image_size: int = 16, mode: str = "bilinear") -> dict:
    """All 1797 digits as a shard dict: ``images`` uint8 (N, 1, S, S), ``labels``, ``names``.

    Grey levels 0..16 map linearly to 0..255 (ink bright, background 0), then the 8x8 images are
    upsampled to ``image_size`` (a multiple of 8) with ``mode`` ("bilinear" or "nearest") and
    rounded back to uint8. ``names`` are ``digits-<index in sklearn's order>``.
    """
    from sklearn.datasets import load_digits

    if image_size % 8 or image_size < 8:
        raise ValueError(f"image_size must be a positive multiple of 8, got {image_size}")
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"upsample mode must be 'bilinear' or 'nearest', got {mode!r}")
    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) * (255.0 / _SKLEARN_LEVELS))[:, None]
    if image_size != 8:
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        x = F.interpolate(x, size=(image_size, image_size), mode=mode, **kwargs)
    images = x.round().clamp(0, 255).to(torch.uint8).contiguous()
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    names = [f"digits-{i:04d}" for i in range(len(labels))]
    return {"images": images, "labels": labels, "names": names}


def _subset(data: Mapping, idx: np.ndarray) -> dict:
    idx_t = torch.as_tensor(np.asarray(idx, dtype=np.int64))
    return {"images": data["images"][idx_t].contiguous(), "labels": data["labels"][idx_t].contiguous(),
            "names": [data["names"][i] for i in np.asarray(idx)]}



def split_digits(data: Mapping, held_out_fraction: float, seed: int) -> tuple[dict, dict]:
    """Deterministic stratified split into (train, held_out): per class, a seeded permutation of
    its images, the first ``round(fraction * n_class)`` held out. Both keep sklearn's order."""
    labels = np.asarray(data["labels"])
    held = []
    for c in range(N_CLASSES):
        members = np.flatnonzero(labels == c)
        perm = numpy_generator(derive_seed(seed, "digits-split", c)).permutation(members)
        held.extend(perm[: n_held_out(held_out_fraction, len(members))].tolist())
    held_mask = np.zeros(len(labels), dtype=bool)
    held_mask[held] = True
    return _subset(data, np.flatnonzero(~held_mask)), _subset(data, np.flatnonzero(held_mask))


def select_per_class(data: Mapping, n_per_class: int) -> dict:
    """The first ``n_per_class`` images of every class (in the set's order), classes interleaved
    so that any contiguous shard holds every class: order c0 c1 .. c9 c0 c1 ..."""
    labels = np.asarray(data["labels"])
    per_class = []
    for c in range(N_CLASSES):
        members = np.flatnonzero(labels == c)
        if len(members) < n_per_class:
            raise ValueError(f"n_per_class={n_per_class} but class {c} has only {len(members)} "
                             "held-out images; lower images.n_per_class or raise held_out_fraction")
        per_class.append(members[:n_per_class])
    order = np.stack(per_class, axis=1).reshape(-1)  # (n_per_class, 10) row-major -> interleaved
    return _subset(data, order)


def write_digits_split(train_path: str | os.PathLike, held_out_path: str | os.PathLike, *,
                       image_size: int = 16, upsample: str = "bilinear",
                       held_out_fraction: float = 0.2, seed: int = 0,
                       config: Mapping | None = None) -> tuple[int, int]:
    """Write the digits' training split (the DDPM's and the classifier's data) and held-out split
    (the classifier's accuracy, and the pool the sweep images are drawn from: see
    :func:`write_sweep_shards`). Returns their sizes."""
    data = load_digits_images(image_size, upsample)
    train, held = split_digits(data, held_out_fraction, seed)
    meta = dict(dataset="digits", image_size=image_size, upsample=upsample,
                held_out_fraction=held_out_fraction)
    write_shard(train_path, train["images"], train["labels"], train["names"], config=config,
                seed=seed, split="train", **meta)
    write_shard(held_out_path, held["images"], held["labels"], held["names"], config=config,
                seed=seed, split="held_out", **meta)
    return len(train["names"]), len(held["names"])


def write_sweep_shards(held_out_path: str | os.PathLike,
                       shard_paths: Sequence[str | os.PathLike], *, n_per_class: int,
                       image_size: int, upsample: str, held_out_fraction: float, seed: int,
                       config: Mapping | None = None) -> list[int]:
    """Write the sweep shards: the first ``n_per_class`` images of every class of the held-out
    split at ``held_out_path`` (so that no sweep image is a training image), interleaved, in
    ``len(shard_paths)`` shards of near-equal size. ``image_size``, ``upsample``,
    ``held_out_fraction`` and ``seed`` are the split's, checked against its sidecar and recorded
    in the shards'. Returns the shard sizes."""
    if not shard_paths:
        raise ValueError("shard_paths must name at least one shard")
    meta = dict(dataset="digits", image_size=image_size, upsample=upsample,
                held_out_fraction=held_out_fraction)
    split = read_sidecar(held_out_path)
    written = {key: split.get(key) for key in ("split", *meta, "seed")}
    expected = dict(split="held_out", **meta, seed=seed)
    if written != expected:
        found = {key: written[key] for key in expected if written[key] != expected[key]}
        asked = {key: expected[key] for key in found}
        raise ValueError(f"held_out_path {os.fspath(held_out_path)!r} is not the held-out split "
                         f"asked for: its sidecar has {found}, expected {asked}")
    chosen = select_per_class(read_shard(held_out_path), n_per_class)
    sizes = []
    # contiguous parts of sizes differing by at most one, the larger first
    for idx, path in zip(np.array_split(np.arange(len(chosen["labels"])), len(shard_paths)),
                         shard_paths):
        sub = _subset(chosen, idx)
        write_shard(path, sub["images"], sub["labels"], sub["names"], config=config, seed=seed,
                    split="sweep", n_per_class=n_per_class, **meta)
        sizes.append(len(idx))
    return sizes
