"""The digits classifier: ``DigitsCNN``, a small CNN whose named layers go from the stem to the
logits (so that per-layer similarity has depth), its training and its accuracy.

Runs on GPU when one is given (bf16 autocast there) and deterministically on CPU. The images
engine wraps a trained one as a feature classifier: ``build_classifier("digits_cnn", path)`` in
:mod:`hierphase.images.classifiers` (this module does not import that one).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hierphase.devices import resolve_device
from hierphase.images.digits_data import N_CLASSES
from hierphase.images.settings import ClassifierTrainConfig, DIGITS_LAYERS, DIGITS_SPATIAL_LAYERS
from hierphase.images.shards import to_model_scale
from hierphase.io import load_tensors
from hierphase.memory import classifier_train_bytes
from hierphase.checks import check_int
from hierphase.seeding import derive_seed, torch_generator
from hierphase.training import (autocast, fingerprint, progress_log, restore, resume_state,
                                rng_state, save_checkpoint_file, warmup_cosine)

__all__ = [
    "DIGITS_LAYERS",
    "DIGITS_SPATIAL_LAYERS",
    "DigitsCNN",
    "ClassifierTrainConfig",
    "train_digits_classifier",
    "classifier_train_bytes",
    "load_digits_cnn_module",
    "classifier_accuracy",
]



class DigitsCNN(nn.Module):
    """A small CNN for the digits: stem, three conv blocks over three resolutions, global pooling,
    a hidden dense layer and the classifier. ``DIGITS_LAYERS`` names the hooked modules, shallow to
    deep; each is a module whose output is that layer's representation (after its ReLU)."""

    def __init__(self, channels: int = 1, width: int = 32, n_classes: int = N_CLASSES,
                 dropout: float = 0.2):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(channels, w, 3, padding=1), nn.ReLU())
        self.block1 = nn.Sequential(nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU())
        self.down1 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w),
                                    nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU())
        self.block3 = nn.Sequential(nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w),
                                    nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * w, 4 * w), nn.ReLU())
        self.classifier = nn.Linear(4 * w, n_classes)
        self.hparams = {"channels": channels, "width": width, "n_classes": n_classes,
                        "dropout": dropout}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in DIGITS_LAYERS:
            x = getattr(self, name)(x)
        return x


def _random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (zero padding = background -1)."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h))  # (n, h)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w))  # (n, w)
    return padded[torch.arange(n).view(n, 1, 1), :, rows.view(n, h, 1), cols.view(n, 1, w)] \
        .permute(0, 3, 1, 2).contiguous()


#: The keys of a classifier training checkpoint.
CLASSIFIER_CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "generator", "rng", "epoch", "i",
                              "perm", "sums", "rows", "meta")


def train_digits_classifier(train: Mapping, held_out: Mapping, cfg: ClassifierTrainConfig,
                            seed: int, device: str = "auto", progress: bool = True,
                            log_every: int = 1, checkpoint: str | os.PathLike | None = None,
                            checkpoint_every: int = 200) -> tuple[dict, pd.DataFrame]:
    """Train ``DigitsCNN`` with cross-entropy (random shifts of up to ``cfg.max_shift`` pixels as
    augmentation, so that it judges generated digits that are not perfectly centred).

    Returns ``(state, table)``: ``state`` holds ``state_dict`` and ``hparams`` (what
    ``load_digits_cnn_module`` reads); ``table`` one row per epoch: train loss, train and held-out
    accuracy. The held-out set is only evaluated, never trained on. Every ``log_every`` epochs a
    timestamped log line gives the loss, accuracies, rate and time left.

    ``checkpoint``: a file written every ``checkpoint_every`` steps (weights, optimizer,
    generators, the epoch's permutation and sums, the rows so far) and deleted at the end; a rerun
    after a kill continues from it (the same trajectory: the same bytes as an uninterrupted run)
    when it was written for the same data, config and seed, else discards it with a warning
    (:func:`hierphase.training.resume_state`).
    """
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    dev = resolve_device(device, key="images.device")
    torch.manual_seed(derive_seed(seed, "cnn-init"))
    model = DigitsCNN(channels=train["images"].shape[1], width=cfg.width).to(dev)
    gen = torch_generator(derive_seed(seed, "cnn-batches"))
    x_tr, y_tr = to_model_scale(train["images"]), train["labels"]
    n = len(y_tr)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.warmup, total))
    digest = hashlib.sha256()
    for part in (train["images"], train["labels"], held_out["images"], held_out["labels"]):
        digest.update(torch.as_tensor(part).numpy().tobytes())
    meta = {"fingerprint": fingerprint(train=asdict(cfg), seed=int(seed), data=digest.hexdigest())}
    rows, epoch, i, perm, loss_sum, correct = [], 0, 0, None, 0.0, 0
    state = resume_state(checkpoint, meta["fingerprint"], CLASSIFIER_CHECKPOINT_KEYS)
    if state is not None:
        restore(state, model, opt, lr_sched, gen, dev)
        epoch, i, perm, rows = int(state["epoch"]), int(state["i"]), state["perm"], state["rows"]
        loss_sum, correct = float(state["sums"][0]), int(state["sums"][1])
    with progress_log("train digits_cnn", cfg.epochs, log_every, unit="epochs",
                      initial=epoch) as plog:
        bar = tqdm(total=cfg.epochs, initial=epoch, desc="train digits_cnn", disable=not progress)
        while epoch < cfg.epochs:
            model.train()
            if i == 0:
                perm = torch.randperm(n, generator=gen)
                loss_sum, correct = 0.0, 0
            while i < steps_per_epoch:
                idx = perm[i * cfg.batch_size: (i + 1) * cfg.batch_size]
                xb = _random_shift(x_tr[idx], cfg.max_shift, gen).to(dev)
                yb = y_tr[idx].to(dev)
                with autocast(dev):
                    logits = model(xb)
                loss = F.cross_entropy(logits.float(), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                lr_sched.step()
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
                i += 1
                if checkpoint is not None and (epoch * steps_per_epoch + i) % checkpoint_every == 0:
                    save_checkpoint_file(checkpoint, {
                        "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": lr_sched.state_dict(), "generator": gen.get_state(),
                        "rng": rng_state(dev), "epoch": epoch, "i": i, "perm": perm,
                        "sums": [loss_sum, correct], "rows": rows, "meta": meta})
            acc = classifier_accuracy(model, held_out, device=dev)
            rows.append({"epoch": epoch + 1, "train_loss": loss_sum / n, "train_accuracy": correct / n,
                         "held_out_accuracy": acc})
            plog.step(epoch + 1, loss_sum / n, train_accuracy=correct / n, held_out_accuracy=acc)
            epoch, i = epoch + 1, 0
            bar.update(1)
        bar.close()
    model.eval().to("cpu")
    state = {"state_dict": model.state_dict(), "hparams": dict(model.hparams),
             "layers": list(DIGITS_LAYERS)}
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return state, pd.DataFrame(rows)


def load_digits_cnn_module(path: str | os.PathLike) -> DigitsCNN:
    """The trained ``DigitsCNN`` saved (as its state dict and hparams) at ``path``, in eval mode."""
    state = load_tensors(path)
    model = DigitsCNN(**state["hparams"])
    model.load_state_dict(state["state_dict"], strict=True)
    return model.eval()


@torch.no_grad()
def _predict(model: nn.Module, images_u8: torch.Tensor, device, batch_size: int = 512):
    model.eval()
    out = []
    for i in range(0, len(images_u8), batch_size):
        xb = to_model_scale(images_u8[i: i + batch_size]).to(device)
        out.append(model(xb).float().cpu())
    return torch.cat(out)


def classifier_accuracy(model: nn.Module, data: Mapping, device="cpu") -> float:
    """Top-1 accuracy of ``model`` (a module mapping [-1, 1] images to logits) on a shard dict."""
    was_training = model.training
    logits = _predict(model, data["images"], device)
    model.train(was_training)
    return float((logits.argmax(1) == data["labels"]).float().mean())
