"""The default image set: scikit-learn's handwritten digits, and the two models trained on it.

scikit-learn ships 1797 handwritten digits (8x8, 17 grey levels, UCI "optdigits" test set) inside
the package, so the images branch runs offline on real data no one here made. This module

- turns them into uint8 shards of the same format as the ImageNet shards (``images`` uint8
  ``(N, C, H, W)``, ``labels`` int64 ``(N,)``, ``names`` list of str), upsampled bilinearly to
  ``image_size`` (default 16): bilinear keeps the strokes smooth, where nearest-neighbour would add
  hard 2x2 block edges that are an artefact of the upsampling, not of the digits, and that the
  diffusion model would then have to spend capacity reproducing;
- splits them deterministically, per class, into a training set (for the DDPM and the classifier)
  and a held-out set (classifier accuracy, and the images the forward-backward sweep starts from);
- trains a diffusers ``UNet2DModel`` DDPM (epsilon prediction, linear betas 1e-4..0.02, T = 1000),
  saved as a diffusers model directory (``config.json`` + weights, plus the scheduler config), the
  layout of ``google/ddpm-*``, so the images engine's ``load_diffusers_unet`` loads it;
- trains ``DigitsCNN``, a small CNN classifier whose hooked layers go from the stem to the logits,
  so that per-layer similarity has depth.

Everything runs on GPU when one is given (bf16 autocast there) and deterministically on CPU.
Nothing here imports Snakemake.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hierphase.images.shards import split_even, to_model_scale, write_shard
from hierphase.seeding import derive_seed, numpy_generator, torch_generator

__all__ = [
    "N_CLASSES",
    "CLASS_NAMES",
    "load_digits_images",
    "split_digits",
    "prepare_digits",
    "select_per_class",
    "DDPMTrainConfig",
    "build_digits_unet",
    "train_digits_ddpm",
    "ClassifierTrainConfig",
    "DigitsCNN",
    "DIGITS_LAYERS",
    "train_digits_classifier",
    "load_digits_cnn",
    "classifier_accuracy",
    "sample_confidences",
    "pick_device",
]

N_CLASSES = 10
CLASS_NAMES = [str(i) for i in range(N_CLASSES)]
_SKLEARN_LEVELS = 16  # sklearn digits take integer values 0..16


# ----------------------------------------------------------------------------------------- data
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
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    labels = np.asarray(data["labels"])
    held = []
    for c in range(N_CLASSES):
        members = np.flatnonzero(labels == c)
        perm = numpy_generator(derive_seed(seed, "digits-split", c)).permutation(members)
        held.extend(perm[: int(round(held_out_fraction * len(members)))].tolist())
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


def prepare_digits(shard_paths: Sequence[str | os.PathLike], train_path: str | os.PathLike,
                   held_out_path: str | os.PathLike, *, image_size: int = 16,
                   upsample: str = "bilinear", held_out_fraction: float = 0.2,
                   n_per_class: int = 20, seed: int = 0, config: Mapping | None = None) -> list[int]:
    """Write the digits' training split, held-out split and the sweep shards (the first
    ``n_per_class`` held-out images of every class, interleaved, in ``len(shard_paths)`` shards of
    near-equal size). Returns the sweep shard sizes."""
    data = load_digits_images(image_size, upsample)
    train, held = split_digits(data, held_out_fraction, seed)
    meta = dict(dataset="digits", image_size=image_size, upsample=upsample,
                held_out_fraction=held_out_fraction)
    write_shard(train_path, train["images"], train["labels"], train["names"], config=config,
                seed=seed, split="train", **meta)
    write_shard(held_out_path, held["images"], held["labels"], held["names"], config=config,
                seed=seed, split="held_out", **meta)
    chosen = select_per_class(held, n_per_class)
    sizes = []
    for part, path in zip(split_even(len(chosen["labels"]), len(shard_paths)), shard_paths):
        idx = np.asarray(list(part), dtype=np.int64)
        sub = _subset(chosen, idx)
        write_shard(path, sub["images"], sub["labels"], sub["names"], config=config, seed=seed,
                    split="sweep", n_per_class=n_per_class, **meta)
        sizes.append(len(idx))
    return sizes


def pick_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


# ----------------------------------------------------------------------------------------- DDPM
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


def build_digits_unet(image_size: int, channels: int, cfg: DDPMTrainConfig):
    """A small ``UNet2DModel``: one resolution level per entry of ``block_out_channels``, self
    attention at the coarsest level when ``cfg.attention``."""
    from diffusers import UNet2DModel

    n = len(cfg.block_out_channels)
    down = ["DownBlock2D"] * n
    up = ["UpBlock2D"] * n
    if cfg.attention:
        down[-1] = "AttnDownBlock2D"
        up[0] = "AttnUpBlock2D"
    groups = math.gcd(*cfg.block_out_channels, 8)
    return UNet2DModel(sample_size=image_size, in_channels=channels, out_channels=channels,
                       block_out_channels=tuple(cfg.block_out_channels),
                       layers_per_block=cfg.layers_per_block, down_block_types=tuple(down),
                       up_block_types=tuple(up), norm_num_groups=groups,
                       attention_head_dim=cfg.block_out_channels[-1])


def _ddpm_scheduler(cfg: DDPMTrainConfig):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=cfg.num_train_timesteps, beta_schedule="linear",
                         beta_start=cfg.beta_start, beta_end=cfg.beta_end,
                         prediction_type="epsilon", variance_type="fixed_small", clip_sample=True)


def _lr_lambda(cfg) -> callable:
    def f(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return f


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - decay)


def train_digits_ddpm(images_u8: torch.Tensor, out_dir: str | os.PathLike, cfg: DDPMTrainConfig,
                      seed: int, device: str = "auto", progress: bool = True) -> pd.DataFrame:
    """Train an epsilon-prediction DDPM on ``images_u8`` and save its EMA weights as a diffusers
    model directory at ``out_dir`` (``config.json``, weights, ``scheduler_config.json``).

    Batches, timesteps and noise come from CPU generators seeded by ``seed``, so a CPU run is
    reproducible; on CUDA the loss runs under bf16 autocast. Returns the loss table: one row per
    logging interval (step, loss averaged over the interval, learning rate).
    """
    dev = pick_device(device)
    torch.manual_seed(derive_seed(seed, "ddpm-init"))
    model = build_digits_unet(images_u8.shape[-1], images_u8.shape[1], cfg).to(dev)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    sched = _ddpm_scheduler(cfg)
    abar = sched.alphas_cumprod.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    data = to_model_scale(images_u8)
    gen = torch_generator(derive_seed(seed, "ddpm-batches"))
    n = data.shape[0]
    rows, running, count = [], 0.0, 0
    log_every = max(1, cfg.steps // 40)
    perm, pos = torch.randperm(n, generator=gen), 0
    bar = tqdm(range(cfg.steps), desc="train DDPM", disable=not progress, mininterval=2.0)
    for step in bar:
        if pos + cfg.batch_size > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos: pos + cfg.batch_size]
        pos += cfg.batch_size
        x0 = data[idx]
        t = torch.randint(0, cfg.num_train_timesteps, (len(idx),), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        x0, t, eps = x0.to(dev), t.to(dev), eps.to(dev)
        a = abar[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        with _autocast(dev):
            pred = model(x_t, t).sample
        loss = F.mse_loss(pred.float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lr_sched.step()
        # EMA with the usual warm-up so early weights do not dominate a short run
        _ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
        running += float(loss.detach())
        count += 1
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            rows.append({"step": step + 1, "loss": running / count, "lr": lr_sched.get_last_lr()[0]})
            bar.set_postfix(loss=f"{running / count:.4f}")
            running, count = 0.0, 0
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ema.to("cpu").save_pretrained(out, safe_serialization=True)
    sched.save_pretrained(out)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ classifier
DIGITS_LAYERS = ["stem", "block1", "down1", "block2", "down2", "block3", "pool", "fc", "classifier"]


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


@dataclass(frozen=True)
class ClassifierTrainConfig:
    epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    width: int = 32
    max_shift: int = 2
    warmup: int = 20


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


def train_digits_classifier(train: Mapping, held_out: Mapping, cfg: ClassifierTrainConfig,
                            seed: int, device: str = "auto",
                            progress: bool = True) -> tuple[dict, pd.DataFrame]:
    """Train ``DigitsCNN`` with cross-entropy (random shifts of up to ``cfg.max_shift`` pixels as
    augmentation, so that it judges generated digits that are not perfectly centred).

    Returns ``(state, table)``: ``state`` holds ``state_dict`` and ``hparams`` (what
    ``load_digits_cnn`` reads); ``table`` one row per epoch: train loss, train and held-out
    accuracy. The held-out set is only evaluated, never trained on.
    """
    dev = pick_device(device)
    torch.manual_seed(derive_seed(seed, "cnn-init"))
    model = DigitsCNN(channels=train["images"].shape[1], width=cfg.width).to(dev)
    gen = torch_generator(derive_seed(seed, "cnn-batches"))
    x_tr, y_tr = to_model_scale(train["images"]), train["labels"]
    n = len(y_tr)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    lr_cfg = type("L", (), {"warmup": cfg.warmup, "steps": total})
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(lr_cfg))
    rows = []
    for epoch in tqdm(range(cfg.epochs), desc="train digits_cnn", disable=not progress):
        model.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * cfg.batch_size: (i + 1) * cfg.batch_size]
            xb = _random_shift(x_tr[idx], cfg.max_shift, gen).to(dev)
            yb = y_tr[idx].to(dev)
            with _autocast(dev):
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lr_sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        acc = classifier_accuracy(model, held_out, device=dev)
        rows.append({"epoch": epoch + 1, "train_loss": loss_sum / n, "train_accuracy": correct / n,
                     "held_out_accuracy": acc})
    model.eval().to("cpu")
    state = {"state_dict": model.state_dict(), "hparams": dict(model.hparams),
             "layers": list(DIGITS_LAYERS)}
    return state, pd.DataFrame(rows)


def _load_cnn_module(path: str | os.PathLike) -> DigitsCNN:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = DigitsCNN(**state["hparams"])
    model.load_state_dict(state["state_dict"], strict=True)
    return model.eval()


def load_digits_cnn(path: str | os.PathLike):
    """The trained ``DigitsCNN`` at ``path`` as the engine's ``FeatureClassifier`` (hooks on
    ``DIGITS_LAYERS``, input in [-1, 1])."""
    from hierphase.images.classifiers import FeatureClassifier

    return FeatureClassifier(_load_cnn_module(path), DIGITS_LAYERS, name="digits_cnn")


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


def sample_confidences(model: nn.Module, images_u8: torch.Tensor, device="cpu") -> pd.DataFrame:
    """Per image: predicted class and its softmax probability (the classifier's confidence)."""
    probs = _predict(model, images_u8, device).softmax(1)
    conf, pred = probs.max(1)
    return pd.DataFrame({"index": np.arange(len(pred)), "predicted": pred.numpy(),
                         "confidence": conf.numpy()})
