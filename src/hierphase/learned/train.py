"""Deterministic, resumable training of a denoiser on a fixed training set of RHM leaves.

Every random draw (minibatch indices, noise levels, noise) comes from one ``torch.Generator``
seeded by the caller, so on CPU the same seed gives the same loss table. A checkpoint holds the
weights, the optimizer and learning-rate scheduler states, the generator state, the step and the
loss rows; resuming from it continues the very same trajectory, so an interrupted-and-resumed run
ends with the same weights as an uninterrupted one; a checkpoint that cannot be read is discarded
with a warning and training starts over. Checkpoints hold plain data only (tensors, numbers,
strings, lists, dicts), are loaded with ``weights_only=True`` and are byte-identical across two
identical runs. On a GPU the forward pass runs under bfloat16 autocast (mixed precision; no loss
scaling needed). Every ``log_every`` steps a timestamped log line gives loss, rate and time left.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from hierphase.learned.settings import TrainConfig
from hierphase.memory import tree_unet_training_bytes
from hierphase.training import (adamw_with_schedule, autocast, fingerprint, optimizer_step, progress_log,
                                read_checkpoint, resume_state, save_checkpoint_file)

__all__ = ["TrainConfig", "TrainResult", "train", "save_checkpoint", "load_checkpoint", "save_weights",
           "training_bytes"]


@dataclass
class TrainResult:
    net: torch.nn.Module
    loss_table: pd.DataFrame
    steps_done: int
    finished: bool
    extra: dict = field(default_factory=dict)
    #: The network's weights at each requested snapshot step reached so far (step -> state dict).
    snapshots: dict = field(default_factory=dict)


log = logging.getLogger(__name__)

#: The keys of a checkpoint written by :func:`save_checkpoint`.
CHECKPOINT_KEYS = ("window", "model", "optimizer", "scheduler", "generator", "generator_device", "step",
                   "loss_rows", "meta")
#: The keys every file with a network in it has: a checkpoint, and a snapshot (:func:`save_weights`).
WEIGHTS_KEYS = ("model", "meta")


def save_checkpoint(path, net, optimizer, scheduler, generator, step: int, rows: list, meta: dict,
                    window: tuple[float, int] = (0.0, 0), snapshots: dict | None = None) -> None:
    """Everything needed to continue the run exactly (``window``: the unlogged loss sum and count;
    ``snapshots``: the weights kept at earlier steps, step -> state dict). The bytes depend on the
    values only (:func:`hierphase.io.save_torch`), so a resumed run writes an uninterrupted one's."""
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
    if snapshots:  # only when asked for: a run without snapshots writes what it always wrote
        state["snapshots"] = dict(snapshots)
    save_checkpoint_file(path, state)


def save_weights(path, weights: dict, meta: dict) -> None:
    """A network's weights and the meta that rebuilds it (no optimizer state): what a training
    snapshot is kept as. :func:`load_checkpoint` reads it with ``keys=WEIGHTS_KEYS``."""
    save_checkpoint_file(path, {"model": weights, "meta": meta})


def load_checkpoint(path, keys: Sequence[str] = CHECKPOINT_KEYS) -> dict:
    """A checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no code runs); with
    ``keys=WEIGHTS_KEYS``, any file with a network in it (a checkpoint or :func:`save_weights`).
    Raises :class:`hierphase.io.CorruptFileError` naming the file when it cannot be read or is
    not such a checkpoint."""
    return read_checkpoint(path, keys)


def _missing_snapshots(keep: Sequence[int]):
    """``usable`` of :func:`hierphase.training.resume_state`: a checkpoint past a requested
    snapshot step must hold that snapshot (one written before the schedule changed may not)."""
    def why(state: dict) -> str | None:
        held = {int(k) for k in state.get("snapshots", {})}
        missing = [k for k in keep if k <= int(state["step"]) and k not in held]
        return (f"it is at step {int(state['step'])} but lacks the snapshots at steps {missing} "
                "(the snapshot schedule changed)") if missing else None
    return why


def training_bytes(net: torch.nn.Module, in_channels: int, batch_size: int) -> int:
    """Peak memory in bytes of :func:`train` of the tree U-Net ``net`` on batches of
    ``batch_size`` (:func:`hierphase.memory.tree_unet_training_bytes` of its config, measured
    within a factor 2 in ``tests/test_hostile_memory.py``)."""
    cfg = net.cfg
    return tree_unet_training_bytes(in_channels, cfg.vocab, cfg.s, cfg.L, cfg.width, cfg.blocks,
                                    cfg.expansion, batch_size)


def train(process, net: torch.nn.Module, train_leaves: torch.Tensor, cfg: TrainConfig, seed: int,
          checkpoint: str | os.PathLike | None = None, resume: bool = True, stop_after: int | None = None,
          device: torch.device | str = "cpu", progress: bool = True, meta: dict | None = None,
          log_every: int | None = None, snapshots: Sequence[int] = ()) -> TrainResult:
    """Train ``net`` to denoise ``train_leaves`` (LongTensor ``(P, d)``) under ``process``.

    ``checkpoint``: file written every ``cfg.checkpoint_every`` steps and at the end; when it exists,
    ``resume`` is true and its fingerprint matches this run, training continues from it.
    ``stop_after``: stop (with a checkpoint) once this many steps are done in total, for example to
    fit a job into a time slot; calling again with the same checkpoint finishes the run.
    ``log_every``: steps between timestamped log lines (default ``cfg.log_every``, the loss table's
    interval; the lines then carry the interval's mean loss).
    ``snapshots``: steps at which a copy of the weights is kept (``TrainResult.snapshots``); they
    travel in the checkpoint, so a resumed run returns the same ones. They do not change training.
    """
    device = torch.device(device)
    meta = dict(meta or {})
    meta.pop("fingerprint", None)
    # everything the checkpoint's and the model's bytes depend on, the caller's meta included
    fp = fingerprint(train=cfg.to_dict(), seed=seed, process=repr(process), n_train=int(train_leaves.shape[0]),
                     data=hashlib.sha256(train_leaves.cpu().numpy().tobytes()).hexdigest()[:16],
                     net=getattr(getattr(net, "cfg", None), "to_dict", lambda: None)(), meta=meta)
    meta["fingerprint"] = fp
    net = net.to(device)
    data = train_leaves.to(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    optimizer, scheduler = adamw_with_schedule(net, cfg)
    keep = sorted({int(k) for k in snapshots})
    if keep and not (1 <= keep[0] and keep[-1] <= cfg.steps):
        raise ValueError(f"snapshots must be steps in [1, steps={cfg.steps}], got {keep}")
    step, rows, window, kept = 0, [], [0.0, 0], {}
    state = resume_state(checkpoint, fp, CHECKPOINT_KEYS, _missing_snapshots(keep)) if resume else None
    if state is not None:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        step, rows = int(state["step"]), list(state["loss_rows"])
        window = state["window"]
        kept = {int(k): v for k, v in state.get("snapshots", {}).items() if int(k) in keep}
    end = cfg.steps if stop_after is None else min(cfg.steps, int(stop_after))
    net.train()
    running = torch.tensor(float(window[0]), device=device)
    count = int(window[1])
    desc = f"train {meta.get('name', '')}".strip()
    with progress_log(desc, cfg.steps, log_every or cfg.log_every, initial=step) as plog:
        bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc=desc, mininterval=2.0)
        while step < end:
            idx = torch.randint(data.shape[0], (cfg.batch_size,), generator=generator, device=device)
            batch = data[idx]
            with autocast(device):
                loss = process.training_loss(net, batch, generator, cfg.time_focus)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            lr = optimizer_step(net, optimizer, scheduler, cfg.grad_clip)
            running += loss.detach().float()
            count += 1
            step += 1
            bar.update(1)
            if step in keep:
                kept[step] = {k: v.detach().clone() for k, v in net.state_dict().items()}
            if step % cfg.log_every == 0 or step == cfg.steps:
                mean = float(running / count)
                rows.append({"step": step, "loss": mean, "lr": lr, "n_steps_averaged": count})
                bar.set_postfix(loss=f"{mean:.4f}")
                running.zero_()
                count = 0
            if plog.due(step):
                plog.step(step, rows[-1]["loss"] if rows and rows[-1]["step"] == step else float(loss.detach()))
            if checkpoint is not None and (step % cfg.checkpoint_every == 0 or step == end):
                save_checkpoint(checkpoint, net, optimizer, scheduler, generator, step, rows, meta,
                                window=(float(running), count), snapshots=kept)
        bar.close()
    net.eval()
    table = pd.DataFrame(rows, columns=["step", "loss", "lr", "n_steps_averaged"])
    return TrainResult(net=net, loss_table=table, steps_done=step, finished=step >= cfg.steps, extra=meta,
                       snapshots=kept)
