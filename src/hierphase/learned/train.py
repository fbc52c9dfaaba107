"""Deterministic, resumable training of a denoiser on a fixed training set of RHM leaves.

Every random draw (minibatch indices, noise levels, noise) comes from one ``torch.Generator``
seeded by the caller, so on CPU the same seed gives the same loss table. A checkpoint holds the
weights, the optimizer and learning-rate scheduler states, the generator state, the step and the
loss rows; resuming from it continues the very same trajectory, so an interrupted-and-resumed run
ends with the same weights as an uninterrupted one. On a GPU the forward pass runs under bfloat16
autocast (mixed precision; no loss scaling needed).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from hierphase.io import atomic_path

__all__ = ["TrainConfig", "TrainResult", "train", "resolve_device", "save_checkpoint", "load_checkpoint"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (config keys ``learned.training.*``)."""

    steps: int = 2000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup: int = 100
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    log_every: int = 50
    checkpoint_every: int = 500

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    net: torch.nn.Module
    loss_table: pd.DataFrame
    steps_done: int
    finished: bool
    extra: dict = field(default_factory=dict)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("learned.device is 'cuda' but no CUDA device is visible; set learned.device: auto or cpu")
    return torch.device(name)


def _lr_factor(cfg: TrainConfig):
    def factor(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return factor


def fingerprint(**parts: Any) -> str:
    """Hash of everything that defines a training run, stored in checkpoints to refuse a wrong resume."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_checkpoint(path, net, optimizer, scheduler, generator, step: int, rows: list, meta: dict,
                    window: tuple[float, int] = (0.0, 0)) -> None:
    """Everything needed to continue the run exactly (``window``: the unlogged loss sum and count)."""
    state = {
        "window": [float(window[0]), int(window[1])],
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "generator_device": str(generator.device),
        "step": step,
        "loss_rows": rows,
        "meta": meta,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def train(process, net: torch.nn.Module, train_leaves: torch.Tensor, cfg: TrainConfig, seed: int,
          checkpoint: str | os.PathLike | None = None, resume: bool = True, stop_after: int | None = None,
          device: torch.device | str = "cpu", progress: bool = True, meta: dict | None = None) -> TrainResult:
    """Train ``net`` to denoise ``train_leaves`` (LongTensor ``(P, d)``) under ``process``.

    ``checkpoint``: file written every ``cfg.checkpoint_every`` steps and at the end; when it exists,
    ``resume`` is true and its fingerprint matches this run, training continues from it.
    ``stop_after``: stop (with a checkpoint) once this many steps are done in total, for example to
    fit a job into a time slot; calling again with the same checkpoint finishes the run.
    """
    device = torch.device(device)
    meta = dict(meta or {})
    fp = fingerprint(train=cfg.to_dict(), seed=seed, process=repr(process), n_train=int(train_leaves.shape[0]),
                     data=hashlib.sha256(train_leaves.cpu().numpy().tobytes()).hexdigest()[:16],
                     net=getattr(getattr(net, "cfg", None), "to_dict", lambda: None)())
    meta["fingerprint"] = fp
    net = net.to(device)
    data = train_leaves.to(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    no_decay = [p for n, p in net.named_parameters() if p.ndim < 2]
    decay = [p for n, p in net.named_parameters() if p.ndim >= 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(cfg))
    step, rows, window = 0, [], [0.0, 0]
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint)
        if state["meta"].get("fingerprint") == fp:
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            step, rows = int(state["step"]), list(state["loss_rows"])
            window = state.get("window", [0.0, 0])
    end = cfg.steps if stop_after is None else min(cfg.steps, int(stop_after))
    autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    net.train()
    running = torch.tensor(float(window[0]), device=device)
    count = int(window[1])
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc=f"train {meta.get('name', '')}".strip(),
               mininterval=2.0)
    while step < end:
        idx = torch.randint(data.shape[0], (cfg.batch_size,), generator=generator, device=device)
        batch = data[idx]
        if autocast is not None:
            with autocast:
                loss = process.training_loss(net, batch, generator)
        else:
            loss = process.training_loss(net, batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        running += loss.detach().float()
        count += 1
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            mean = float(running / count)
            rows.append({"step": step, "loss": mean, "lr": lr, "n_steps_averaged": count})
            bar.set_postfix(loss=f"{mean:.4f}")
            running.zero_()
            count = 0
        if checkpoint is not None and (step % cfg.checkpoint_every == 0 or step == end):
            save_checkpoint(checkpoint, net, optimizer, scheduler, generator, step, rows, meta,
                            window=(float(running), count))
    bar.close()
    net.eval()
    table = pd.DataFrame(rows, columns=["step", "loss", "lr", "n_steps_averaged"])
    return TrainResult(net=net, loss_table=table, steps_done=step, finished=step >= cfg.steps, extra=meta)
