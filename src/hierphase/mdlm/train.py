"""Deterministic, resumable training of a masked diffusion transformer on fixed token sequences.

Every random draw of a step (minibatch, levels, masks, and the dropout of that step) comes from
one ``torch.Generator`` seeded by the caller: dropout draws from torch's global generator, so each
step seeds it from the run's generator inside ``torch.random.fork_rng`` (the caller's global
state is left untouched). A checkpoint holds the weights, optimizer, scheduler and generator
states, the step, the loss rows and the snapshots kept so far; a run killed at any point and
started again with the same checkpoint path continues the very same trajectory and writes a
final model file byte-identical to the uninterrupted run's. Checkpoints hold plain data only
(loaded with ``weights_only=True``); one that cannot be read is discarded with a warning and
training starts over; one from another run (its fingerprint: config, seed, data, network) is
ignored. Progress goes to the log as plain lines (``hierphase.training.ProgressLog``: step,
loss, rate, time left). On a GPU the forward pass runs under bfloat16 autocast.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from hierphase.io import CorruptFileError, atomic_path, load_tensors
from hierphase.mdlm.diffusion import diffusion_loss
from hierphase.mdlm.model import DiffusionTransformer, TransformerConfig
from hierphase.optimisation import OptimisationSettings, check_setting
from hierphase.training import adamw_with_schedule, autocast, fingerprint, optimizer_step, progress_log

__all__ = ["TrainConfig", "TrainResult", "train", "save_model", "load_model", "LOSS_COLUMNS"]

log = logging.getLogger(__name__)

LOSS_COLUMNS = ["step", "loss", "lr", "n_steps_averaged"]
_CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "generator", "step", "loss_rows", "window",
                    "snapshots", "meta")


@dataclass(frozen=True)
class TrainConfig(OptimisationSettings):
    """Optimisation settings (config keys ``mdlm.training.*``): those of every training loop
    (:class:`hierphase.optimisation.OptimisationSettings`), and ``eps``: the smallest level drawn
    (the objective's ``1/t`` weight is bounded by ``1/eps``); ``antithetic``: stratified levels."""

    eps: float = 1e-3
    antithetic: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_setting("eps", self.eps, 0.0, 1.0, below_high=True)
        if not isinstance(self.antithetic, bool):
            raise ValueError(f"antithetic must be a bool, got {self.antithetic!r}")


@dataclass
class TrainResult:
    net: DiffusionTransformer
    loss_table: pd.DataFrame
    steps_done: int
    finished: bool
    #: Weights at each requested snapshot step reached so far (step -> state dict).
    snapshots: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def _save(path, state: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)  # a file object: torch records no (temporary) path in the archive


def save_model(path, weights: dict, cfg: TransformerConfig, meta: dict | None = None) -> None:
    """A network's weights, its :class:`TransformerConfig` and ``meta``, atomically (no optimizer
    state): the final model of a run and its snapshots."""
    _save(path, {"model": weights, "network": cfg.to_dict(), "meta": dict(meta or {})})


def load_model(path, device: torch.device | str = "cpu") -> DiffusionTransformer:
    """The network saved by :func:`save_model` (or a checkpoint of :func:`train`), in eval mode.
    Raises :class:`hierphase.io.CorruptFileError` naming the file when it is not one."""
    state = load_tensors(path)
    if not isinstance(state, dict) or "model" not in state or "network" not in state:
        raise CorruptFileError(f"{path}: not a masked diffusion model file (no model/network entries); "
                               "the file is corrupt or truncated, delete it and rerun")
    net = DiffusionTransformer(TransformerConfig(**state["network"]))
    net.load_state_dict(state["model"])
    return net.to(device).eval()


def _resume_state(path: Path, fp: str) -> dict | None:
    if not path.exists():
        return None
    try:
        state = load_tensors(path)
        if not isinstance(state, dict) or any(k not in state for k in _CHECKPOINT_KEYS):
            raise CorruptFileError(f"{path}: not a training checkpoint")
    except (CorruptFileError, ValueError) as err:
        log.warning("discarding the unreadable checkpoint %s and training from step 0: %s", path, err)
        warnings.warn(f"discarded unreadable checkpoint {path}: {err}", stacklevel=3)
        path.unlink(missing_ok=True)
        return None
    if state["meta"].get("fingerprint") != fp:  # another run's: another config, data or seed
        log.warning("discarding the stale checkpoint %s (another run's) and training from step 0",
                    path)
        warnings.warn(f"discarded stale checkpoint {path}: it belongs to another run", stacklevel=3)
        return None
    return state


def train(net: DiffusionTransformer, sequences: torch.Tensor, mask_id: int, cfg: TrainConfig, seed: int,
          checkpoint: str | os.PathLike | None = None, resume: bool = True, stop_after: int | None = None,
          device: torch.device | str = "cpu", snapshots: Sequence[int] = (), name: str = "",
          progress_every: int | None = None) -> TrainResult:
    """Train ``net`` on ``sequences`` (int64 ``(P, n)``, tokens ``!= mask_id``) with the masked
    diffusion objective (:func:`hierphase.mdlm.diffusion.diffusion_loss`).

    ``checkpoint``: written every ``cfg.checkpoint_every`` steps and when the run stops; training
    continues from it when it belongs to this run and ``resume`` is true. ``stop_after``: stop
    (with a checkpoint) once this many steps are done. ``snapshots``: steps at which a copy of the
    weights is kept (they travel in the checkpoint). ``progress_every``: steps between log lines
    (default ``cfg.log_every``, the loss table's interval).
    """
    if not isinstance(net, DiffusionTransformer):
        raise TypeError(f"net must be a DiffusionTransformer, got {type(net).__name__}")
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    if not isinstance(sequences, torch.Tensor) or sequences.dtype != torch.long or sequences.ndim != 2 \
            or sequences.shape[0] < 1:
        raise ValueError("sequences must be a non-empty int64 tensor (P, n)")
    if isinstance(mask_id, bool) or not isinstance(mask_id, int) or not 0 <= mask_id < net.cfg.vocab_size:
        raise ValueError(f"mask_id must be a token id of the network (< {net.cfg.vocab_size}), got {mask_id!r}")
    if bool((sequences == mask_id).any()) or int(sequences.min()) < 0 or int(sequences.max()) >= net.cfg.vocab_size:
        raise ValueError(f"sequences must hold token ids in [0, {net.cfg.vocab_size}) other than mask_id={mask_id}")
    keep = sorted({int(k) for k in snapshots})
    if keep and not (1 <= keep[0] and keep[-1] <= cfg.steps):
        raise ValueError(f"snapshots must be steps in [1, steps={cfg.steps}], got {keep}")
    device = torch.device(device)
    data_hash = hashlib.sha256(sequences.cpu().numpy().tobytes()).hexdigest()[:16]
    fp = fingerprint(train=cfg.to_dict(), seed=int(seed), data=data_hash, shape=list(sequences.shape),
                      mask_id=mask_id, net=net.cfg.to_dict())
    meta = {"fingerprint": fp, "name": name, "mask_id": mask_id}
    net = net.to(device)
    data = sequences.to(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    optimizer, scheduler = adamw_with_schedule(net, cfg)
    step, rows, window, kept = 0, [], [0.0, 0], {}
    state = _resume_state(Path(checkpoint), fp) if checkpoint is not None and resume else None
    if state is not None:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        step, rows, window = int(state["step"]), list(state["loss_rows"]), list(state["window"])
        kept = {int(k): v for k, v in state["snapshots"].items()}
        log.info("%s: resumed from %s at step %d", name or "train", checkpoint, step)
    end = cfg.steps if stop_after is None else min(cfg.steps, int(stop_after))
    running, count = float(window[0]), int(window[1])
    devices = [device] if device.type == "cuda" else []

    def save_checkpoint():
        _save(checkpoint, {"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                           "step": step, "loss_rows": rows, "window": [running, count],
                           "snapshots": kept, "meta": meta})

    net.train()
    with progress_log(f"train {name}".strip(), cfg.steps, progress_every or cfg.log_every, initial=step) as plog:
        while step < end:
            idx = torch.randint(data.shape[0], (cfg.batch_size,), generator=generator, device=device)
            step_seed = int(torch.randint(2**62, (1,), generator=generator, device=device))
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(step_seed)
                with autocast(device):
                    loss = diffusion_loss(net, data[idx], mask_id, generator, cfg.eps, cfg.antithetic)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            lr = optimizer_step(net, optimizer, scheduler, cfg.grad_clip)
            running += float(loss.detach())
            count += 1
            step += 1
            if step in keep:
                kept[step] = {k: v.detach().clone() for k, v in net.state_dict().items()}
            if step % cfg.log_every == 0 or step == cfg.steps:
                rows.append({"step": step, "loss": running / count, "lr": lr, "n_steps_averaged": count})
                running, count = 0.0, 0
            plog.step(step, rows[-1]["loss"] if rows and rows[-1]["step"] == step else float(loss.detach()))
            if checkpoint is not None and (step % cfg.checkpoint_every == 0 or step == end):
                save_checkpoint()
    net.eval()
    return TrainResult(net=net, loss_table=pd.DataFrame(rows, columns=LOSS_COLUMNS), steps_done=step,
                       finished=step >= cfg.steps, snapshots=kept, meta=meta)
