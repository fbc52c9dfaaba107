"""What every training loop of the package shares (learned denoisers, the digits DDPM and CNN):
the learning-rate shape, mixed precision on GPU, progress written as timestamped log lines, and
resumable checkpoints.

A checkpoint (:func:`save_checkpoint_file`) holds everything a loop needs to continue exactly (its
``meta`` carries a ``fingerprint`` of everything that changes the loop's outputs);
:func:`resume_state` gives it back only when it continues the current run, else discards it with a
logged warning: a killed job reruns from its checkpoint, or from step 0, never fails for good.

Log lines go through :mod:`logging` (a workflow job's log file gets them with a timestamp, see
:func:`hierphase.jobs.log_to`), every ``log_every`` steps, next to tqdm's progress bar, so a
cluster log can be followed with ``tail``: step, loss, rate and the estimated time left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

__all__ = ["warmup_cosine", "adamw_with_schedule", "optimizer_step", "autocast", "ProgressLog", "progress_log", "fingerprint",
           "read_checkpoint", "save_checkpoint_file", "resume_state", "rng_state", "set_rng_state",
           "restore"]


def warmup_cosine(warmup: int, total: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """Learning-rate factor for ``torch.optim.lr_scheduler.LambdaLR``: linear warm-up
    ``(step + 1) / warmup`` over the first ``warmup`` steps, then a half cosine from 1 down to
    ``min_ratio`` at step ``total`` (and ``min_ratio`` after it).

    A closed form on purpose, not torch's ``SequentialLR(LinearLR, CosineAnnealingLR)``: those
    update the rate recursively from the previous step's, so the rate at step k carries the
    rounding of every step before it, and a resumed training would have to replay them; here the
    rate at step k is a function of k alone, which the byte-identical kill-and-resume tests rest
    on."""
    if warmup < 0 or total < 0:
        raise ValueError(f"warmup and total must be >= 0, got warmup={warmup}, total={total}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return factor


def adamw_with_schedule(net: torch.nn.Module, cfg) -> tuple[torch.optim.AdamW,
                                                             torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over ``net``'s parameters at ``cfg.lr`` (a
    :class:`hierphase.optimisation.OptimisationSettings`), with weight decay
    ``cfg.weight_decay`` on the matrices and none on the vectors (biases, norms), and its
    :func:`warmup_cosine` schedule over ``cfg.steps``."""
    decay = [p for p in net.parameters() if p.ndim >= 2]
    no_decay = [p for p in net.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(cfg.warmup, cfg.steps, cfg.min_lr_ratio))
    return optimizer, scheduler


def optimizer_step(net: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler,
                   grad_clip: float) -> float:
    """One update from the gradients ``net`` holds: their norm clipped to ``grad_clip`` (0: not
    clipped), then an ``optimizer`` and a ``scheduler`` step. Returns the learning rate the
    update used."""
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    return lr


def autocast(device: torch.device):
    """bfloat16 autocast on CUDA (no loss scaling needed); a no-op context on any other device."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class ProgressLog:
    """Writes ``<desc>: step k/N (x%) loss L rate R steps/s ETA h:mm:ss`` to ``logger`` every
    ``log_every`` steps (and at the last step). Rate and ETA count the steps of this process only
    (a resumed run does not inherit the earlier run's time)."""

    def __init__(self, desc: str, total: int, log_every: int, initial: int = 0,
                 logger: logging.Logger | None = None, unit: str = "steps"):
        if int(log_every) < 1:
            raise ValueError(f"log_every must be an int >= 1, got {log_every!r}")
        self.desc, self.total, self.log_every, self.unit = desc, int(total), int(log_every), unit
        self.logger = logger or logging.getLogger("hierphase.training")
        self._start_step, self._start_time = int(initial), time.monotonic()

    def line(self, step: int, loss: float | None = None, **extra: float) -> str:
        """The log line for ``step`` (``extra``: more numbers, e.g. an accuracy)."""
        elapsed = time.monotonic() - self._start_time
        done = step - self._start_step
        rate = done / elapsed if elapsed > 0 else float("nan")
        left = (self.total - step) / rate if rate > 0 else float("nan")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if math.isfinite(left) else "?"
        parts = [f"{self.desc}: {self.unit[:-1] if self.unit.endswith('s') else self.unit} "
                 f"{step}/{self.total} ({100 * step / max(1, self.total):.1f}%)"]
        if loss is not None:
            parts.append(f"loss {loss:.5g}")
        parts += [f"{k} {v:.5g}" for k, v in extra.items()]
        parts.append(f"rate {rate:.3g} {self.unit}/s ETA {eta}")
        return " ".join(parts)

    def due(self, step: int) -> bool:
        """Whether ``step`` gets a line: a multiple of ``log_every``, or the last one."""
        return step % self.log_every == 0 or step == self.total

    def step(self, step: int, loss: float | None = None, **extra: float) -> None:
        """Log ``step`` when it is due (see :meth:`due`)."""
        if self.due(step):
            self.logger.info(self.line(step, loss, **extra))


@contextlib.contextmanager
def progress_log(desc: str, total: int, log_every: int, initial: int = 0,
                 unit: str = "steps") -> Iterator[ProgressLog]:
    """A :class:`ProgressLog` whose lines do not break tqdm's bars (``logging_redirect_tqdm``)."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield ProgressLog(desc, total, log_every, initial, unit=unit)


log = logging.getLogger("hierphase.training")


def fingerprint(**parts: Any) -> str:
    """Hash of everything that defines a training run's outputs, stored in its checkpoints so that
    a resume continues only the same run (:func:`resume_state`)."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_checkpoint(path: str | os.PathLike, keys: Sequence[str]) -> dict:
    """The checkpoint at ``path`` (``weights_only=True``: no code runs), which must hold ``keys``.
    Raises :class:`hierphase.io.CorruptFileError` naming the file when it cannot be read or is
    not such a checkpoint, ValueError when it holds objects other than plain data."""
    from hierphase.io import CorruptFileError, load_tensors

    state = load_tensors(path)
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise CorruptFileError(f"{path}: not a training checkpoint (missing {missing}); the file "
                               "is corrupt or truncated, delete it and rerun")
    return state


def save_checkpoint_file(path: str | os.PathLike, state: dict) -> None:
    """Write checkpoint ``state`` atomically, with bytes that depend on its value only
    (:func:`hierphase.io.save_torch`)."""
    from hierphase.io import save_torch

    save_torch(path, state)


def _discard(path: Path, kind: str, why: str) -> None:
    log.warning("discarding the %s checkpoint %s and training from step 0: %s", kind, path, why)
    warnings.warn(f"discarded {kind} checkpoint {path}: {why}", stacklevel=3)
    path.unlink(missing_ok=True)


def resume_state(path: str | os.PathLike | None, fp: str, keys: Sequence[str],
                 usable: Callable[[dict], str | None] | None = None) -> dict | None:
    """The checkpoint at ``path`` when it continues this run, else None.

    It continues this run when it can be read, holds ``keys``, its ``meta["fingerprint"]`` is
    ``fp`` and ``usable(state)`` (when given) returns None rather than a reason. Any other
    checkpoint (unreadable after a kill mid-write or a disk error, written for another config,
    lacking what this run needs) is deleted with a logged warning and a ``UserWarning`` naming it:
    training restarts instead of failing on every rerun."""
    from hierphase.io import CorruptFileError

    if path is None or not Path(path).exists():
        return None
    path = Path(path)
    try:
        state = read_checkpoint(path, keys)
    except (CorruptFileError, ValueError) as err:
        _discard(path, "unreadable", str(err))
        return None
    meta = state.get("meta")
    found = meta.get("fingerprint") if isinstance(meta, dict) else None
    if found != fp:
        _discard(path, "stale", f"written for another config (fingerprint {found!r}, this run {fp!r})")
        return None
    why = usable(state) if usable is not None else None
    if why is not None:
        _discard(path, "unusable", why)
        return None
    return state


def rng_state(device: torch.device) -> dict:
    """The global random states a training step may draw from (dropout uses them): CPU, and the
    device's when it is CUDA; restored by :func:`set_rng_state`."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def restore(state: dict, model, optimizer, scheduler, generator, device: torch.device) -> None:
    """Load what a checkpoint of the images trainings holds for the loop's objects: the
    ``model``'s weights, the optimizer's and scheduler's states, the batch ``generator``'s state
    and the global random states (:func:`rng_state`)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    set_rng_state(state["rng"], device)
