"""ILSVRC2012 validation images: deterministic selection, resize + centre crop, uint8 shards.

Where the labels come from (``images.data.imagenet.labels``), three layouts are read:

1. The devkit's ``ILSVRC2012_validation_ground_truth.txt`` (``ILSVRC2012_devkit_t12/data/``): one
   integer per line, line i labelling ``ILSVRC2012_val_{i:08d}.JPEG`` (i from 1). Those labels
   are the devkit's ILSVRC2012_IDs 1..1000 and are kept as they are; they are *not* torchvision's
   class indices (the class-kept observable never needs them: it compares the classifier's
   predictions on x0 and x̂0).
2. A CSV with a header ``filename,label``: ``filename`` relative to the validation folder (sub
   folders allowed), ``label`` an integer, or a string such as a WordNet id. String labels are
   numbered in sorted order, which for WordNet ids is torchvision's class order.
3. No labels file (``null``) and a validation folder of class subfolders (``val/n01440764/*.JPEG``,
   the layout ``valprep.sh`` makes): the subfolder names are the labels, numbered as in 2.

Selection: per class, a permutation seeded by ``derive_seed(seed, "imagenet-select", label)`` of
its files (sorted by name) and the first ``n_per_class``; optionally only ``n_classes`` classes,
chosen by a seeded permutation of the sorted labels. Items are then interleaved by class (first
image of every class, then the second, ...) and split in ``n_shards`` contiguous shards of
near-equal size, so that each shard spans the classes.

Preprocessing (the ADM training preprocessing, OpenAI's ``center_crop_arr``, written anew): while
the short side is at least twice the target, halve the image with a box filter; then resize with
bicubic so the short side equals the target (rounded sizes); then crop the centre
(offsets ``(size_in - target) // 2``). RGB, uint8.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..seeding import derive_seed, numpy_generator
from .shards import write_shard

__all__ = [
    "VAL_DIR_KEY",
    "LABELS_KEY",
    "IMAGE_SUFFIXES",
    "ImageIndex",
    "index_imagenet",
    "select_per_class",
    "center_crop",
    "load_image",
    "prepare_imagenet",
]

VAL_DIR_KEY = "images.data.imagenet.val_dir"
LABELS_KEY = "images.data.imagenet.labels"
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
_DEVKIT_NAME = "ILSVRC2012_val_{:08d}.JPEG"


@dataclass(frozen=True)
class ImageIndex:
    """Every labelled image: ``names`` (paths relative to ``root``, sorted), integer ``labels``,
    and ``classes`` (the label strings numbered 0.., or None when the labels were integers)."""

    root: Path
    names: tuple[str, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...] | None


def _number(raw: Sequence[str]) -> tuple[list[int], tuple[str, ...] | None]:
    try:
        return [int(v) for v in raw], None
    except ValueError:
        classes = tuple(sorted(set(raw)))
        lookup = {c: i for i, c in enumerate(classes)}
        return [lookup[v] for v in raw], classes


def index_imagenet(val_dir: str | os.PathLike,
                   labels: str | os.PathLike | None = None) -> ImageIndex:
    """Read the validation folder and its labels (see the module docstring for the layouts)."""
    root = Path(val_dir)
    if not root.is_dir():
        raise FileNotFoundError(
            f"ImageNet validation folder not found: {str(root)!r} (config key {VAL_DIR_KEY}). "
            "Expected the extracted ILSVRC2012_img_val.tar: ILSVRC2012_val_00000001.JPEG ... "
            "ILSVRC2012_val_00050000.JPEG (or one subfolder per class).")
    if labels is None or str(labels) == "":
        subdirs = sorted(p for p in root.iterdir() if p.is_dir())
        if not subdirs:
            raise FileNotFoundError(
                f"No labels for {str(root)!r}: set {LABELS_KEY} to ILSVRC2012_validation_ground"
                "_truth.txt (from ILSVRC2012_devkit_t12.tar.gz, data/) or to a CSV with header "
                "'filename,label', or arrange the images in one subfolder per class.")
        pairs = [(p.relative_to(root).as_posix(), d.name) for d in subdirs
                 for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        path = Path(labels)
        if not path.is_file():
            raise FileNotFoundError(
                f"ImageNet labels file not found: {str(path)!r} (config key {LABELS_KEY}). Expected "
                "ILSVRC2012_validation_ground_truth.txt (ILSVRC2012_devkit_t12/data/, one label "
                "per line in file order) or a CSV with header 'filename,label'.")
        if path.suffix.lower() == ".csv":
            with path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames is None or not {"filename", "label"} <= set(reader.fieldnames):
                    raise ValueError(f"{path} ({LABELS_KEY}): a labels CSV needs the header "
                                     f"'filename,label', found {reader.fieldnames}")
                pairs = [(row["filename"].strip(), row["label"].strip()) for row in reader]
        else:
            lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
            pairs = [(_DEVKIT_NAME.format(i + 1), v) for i, v in enumerate(lines)]
            present = {p.name for p in root.iterdir()}
            pairs = [pr for pr in pairs if pr[0] in present]
            if not pairs:
                raise FileNotFoundError(
                    f"None of the {len(lines)} images {path.name} labels "
                    f"({_DEVKIT_NAME.format(1)} ...) is in {str(root)!r} ({VAL_DIR_KEY}).")
        missing = [name for name, _ in pairs if not (root / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} images listed in {path} ({LABELS_KEY}) are not in {str(root)!r} "
                f"({VAL_DIR_KEY}), e.g. {missing[:3]}")
    if not pairs:
        raise FileNotFoundError(f"No images (.JPEG/.jpg/.png) found in {str(root)!r} ({VAL_DIR_KEY})")
    pairs.sort()
    ints, classes = _number([v for _, v in pairs])
    return ImageIndex(root=root, names=tuple(n for n, _ in pairs), labels=tuple(ints),
                      classes=classes)


def select_per_class(index: ImageIndex, n_per_class: int, seed: int,
                     n_classes: int | None = None) -> list[int]:
    """Positions in ``index`` of the selected images, classes interleaved: the first selected
    image of every class (in label order), then the second, ... (as the digits shards)."""
    if n_per_class < 1:
        raise ValueError("n_per_class must be >= 1")
    labels = np.asarray(index.labels)
    all_classes = np.unique(labels)
    if n_classes is not None:
        if not 1 <= n_classes <= len(all_classes):
            raise ValueError(f"n_classes={n_classes} but the labels hold {len(all_classes)} classes")
        pick = numpy_generator(derive_seed(seed, "imagenet-classes")).permutation(all_classes)
        all_classes = np.sort(pick[:n_classes])
    per_class = []
    for label in all_classes:
        members = np.flatnonzero(labels == label)       # sorted by name already
        if len(members) < n_per_class:
            raise ValueError(f"class {int(label)} has {len(members)} images, fewer than "
                             f"n_per_class={n_per_class}")
        perm = numpy_generator(derive_seed(seed, "imagenet-select", int(label))).permutation(members)
        per_class.append(sorted(perm[:n_per_class].tolist()))
    # interleave: c0 c1 ... c0 c1 ..., so that every contiguous shard spans the classes
    return [int(p) for p in np.asarray(per_class).T.reshape(-1)]


def center_crop(image, size: int) -> np.ndarray:
    """PIL image -> uint8 (size, size, 3): box-halve, bicubic resize of the short side, centre crop."""
    from PIL import Image

    image = image.convert("RGB")
    while min(image.size) >= 2 * size:
        image = image.resize(tuple(s // 2 for s in image.size), resample=Image.BOX)
    scale = size / min(image.size)
    image = image.resize(tuple(round(s * scale) for s in image.size), resample=Image.BICUBIC)
    arr = np.asarray(image)
    top, left = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    return arr[top:top + size, left:left + size]


def load_image(path: str | os.PathLike, size: int) -> torch.Tensor:
    """An image file as uint8 (3, size, size)."""
    from PIL import Image

    with Image.open(path) as img:
        arr = center_crop(img, size)
    return torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).contiguous()


def prepare_imagenet(val_dir: str | os.PathLike, labels: str | os.PathLike | None,
                     out_paths: Sequence[str | os.PathLike], *, n_per_class: int, size: int,
                     seed: int, n_classes: int | None = None, config: dict | None = None,
                     progress: bool = True) -> list[int]:
    """Select, preprocess and write ``len(out_paths)`` uint8 shards; returns the shard sizes.

    Every shard's sidecar records the selection (``n_per_class``, ``n_classes``, ``size``,
    ``seed``, the class names when the labels were strings)."""
    index = index_imagenet(val_dir, labels)
    chosen = select_per_class(index, n_per_class, seed, n_classes)
    parts = np.array_split(np.arange(len(chosen)), len(out_paths))  # sizes differ by at most one
    sizes = []
    bar = tqdm(total=len(chosen), desc="ImageNet shards", disable=not progress, unit="img")
    for part, out in zip(parts, out_paths):
        pos = [chosen[int(i)] for i in part]
        images = [load_image(index.root / index.names[p], size) for p in pos]
        bar.update(len(pos))
        stacked = (torch.stack(images) if images
                   else torch.zeros((0, 3, size, size), dtype=torch.uint8))
        write_shard(out, stacked, [index.labels[p] for p in pos], [index.names[p] for p in pos],
                    config=config, seed=seed, dataset="imagenet", n_per_class=n_per_class,
                    n_classes=n_classes, size=size, classes=list(index.classes or []))
        sizes.append(len(pos))
    bar.close()
    return sizes
