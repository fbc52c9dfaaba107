"""Training the digits DDPM: a diffusers ``UNet2DModel`` (epsilon prediction, linear betas
1e-4..0.02, T = 1000), saved as a diffusers model directory (``config.json`` + weights, plus the
scheduler config), the layout of ``google/ddpm-*``, so that the images engine's
``load_diffusers_unet`` loads it. Runs on GPU when one is given (bf16 autocast there) and
deterministically on CPU.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hierphase.devices import resolve_device
from hierphase.images.settings import DDPMTrainConfig
from hierphase.images.shards import to_model_scale
from hierphase.io import honour_umask
from hierphase.memory import ddpm_train_bytes
from hierphase.checks import check_int
from hierphase.seeding import derive_seed, torch_generator
from hierphase.training import (autocast, fingerprint, progress_log, restore, resume_state,
                                rng_state, save_checkpoint_file, warmup_cosine)

__all__ = ["DDPMTrainConfig", "build_digits_unet", "train_digits_ddpm", "ddpm_train_bytes"]

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


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema <- ema + (1 - decay) (model - ema)``. Not diffusers' ``EMAModel``: its warm-up
    returns decay 0 at the first update (a copy of the weights) where this loop uses
    ``min(ema_decay, (1 + step) / (10 + step))`` = 0.1, and no setting of it reproduces that
    sequence, so switching would change every trained DDPM (and the images tables)."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - decay)


#: The keys of a DDPM training checkpoint.
DDPM_CHECKPOINT_KEYS = ("model", "ema", "optimizer", "scheduler", "generator", "rng", "perm", "pos",
                        "step", "rows", "sums", "meta")


def train_digits_ddpm(images_u8: torch.Tensor, out_dir: str | os.PathLike, cfg: DDPMTrainConfig,
                      seed: int, device: str = "auto", progress: bool = True,
                      log_every: int = 100, checkpoint: str | os.PathLike | None = None,
                      checkpoint_every: int = 500) -> pd.DataFrame:
    """Train an epsilon-prediction DDPM on ``images_u8`` and save its EMA weights as a diffusers
    model directory at ``out_dir`` (``config.json``, weights, ``scheduler_config.json``).

    Batches, timesteps and noise come from CPU generators seeded by ``seed``, so a CPU run is
    reproducible; on CUDA the loss runs under bf16 autocast. Returns the loss table: one row per
    logging interval (step, loss averaged over the interval, learning rate). Every ``log_every``
    steps a timestamped log line gives the loss, rate and time left.

    ``checkpoint``: a file written every ``checkpoint_every`` steps (weights, EMA, optimizer,
    generators, the loss rows so far) and deleted once the model is saved; a rerun after a kill
    continues from it (the same trajectory: the same bytes as an uninterrupted run) when it was
    written for the same images, config and seed, else discards it with a warning
    (:func:`hierphase.training.resume_state`).
    """
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    dev = resolve_device(device, key="images.device")
    torch.manual_seed(derive_seed(seed, "ddpm-init"))
    model = build_digits_unet(images_u8.shape[-1], images_u8.shape[1], cfg).to(dev)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    sched = _ddpm_scheduler(cfg)
    abar = sched.alphas_cumprod.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.warmup, cfg.steps))
    data = to_model_scale(images_u8)
    gen = torch_generator(derive_seed(seed, "ddpm-batches"))
    n = data.shape[0]
    rows, running, count, log_sum, log_count = [], 0.0, 0, 0.0, 0
    table_every = max(1, cfg.steps // 40)
    perm, pos = torch.randperm(n, generator=gen), 0
    meta = {"fingerprint": fingerprint(train=asdict(cfg), seed=int(seed),
                                       images=hashlib.sha256(images_u8.numpy().tobytes()).hexdigest(),
                                       shape=list(images_u8.shape))}
    start = 0
    state = resume_state(checkpoint, meta["fingerprint"], DDPM_CHECKPOINT_KEYS)
    if state is not None:
        restore(state, model, opt, lr_sched, gen, dev)
        ema.load_state_dict(state["ema"])
        perm, pos, start, rows = state["perm"], int(state["pos"]), int(state["step"]), state["rows"]
        running, count, log_sum, log_count = state["sums"]
        count, log_count = int(count), int(log_count)
    with progress_log("train DDPM", cfg.steps, log_every, initial=start) as plog:
        bar = tqdm(range(start, cfg.steps), desc="train DDPM", disable=not progress,
                   mininterval=2.0, initial=start, total=cfg.steps)
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
            with autocast(dev):
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
            log_sum, log_count = log_sum + float(loss.detach()), log_count + 1
            if plog.due(step + 1):
                plog.step(step + 1, log_sum / log_count)
                log_sum, log_count = 0.0, 0
            if (step + 1) % table_every == 0 or step + 1 == cfg.steps:
                rows.append({"step": step + 1, "loss": running / count, "lr": lr_sched.get_last_lr()[0]})
                bar.set_postfix(loss=f"{running / count:.4f}")
                running, count = 0.0, 0
            if checkpoint is not None and ((step + 1) % checkpoint_every == 0
                                           or step + 1 == cfg.steps):
                save_checkpoint_file(checkpoint, {
                    "model": model.state_dict(), "ema": ema.state_dict(),
                    "optimizer": opt.state_dict(), "scheduler": lr_sched.state_dict(),
                    "generator": gen.get_state(), "rng": rng_state(dev), "perm": perm,
                    "pos": pos, "step": step + 1, "rows": rows,
                    "sums": [running, count, log_sum, log_count], "meta": meta})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ema.to("cpu").save_pretrained(out, safe_serialization=True)
    sched.save_pretrained(out)
    honour_umask(out)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return pd.DataFrame(rows)
