"""What every training loop of the package shares (learned denoisers, the digits DDPM and CNN):
the learning-rate shape, mixed precision on GPU, and progress written as timestamped log lines.

Log lines go through :mod:`logging` (a workflow job's log file gets them with a timestamp, see
:func:`hierphase.jobs.log_to`), every ``log_every`` steps, next to tqdm's progress bar, so a
cluster log can be followed with ``tail``: step, loss, rate and the estimated time left.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Callable, Iterator

import torch

__all__ = ["warmup_cosine", "autocast", "ProgressLog", "progress_log"]


def warmup_cosine(warmup: int, total: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """Learning-rate factor for ``torch.optim.lr_scheduler.LambdaLR``: linear warm-up
    ``(step + 1) / warmup`` over the first ``warmup`` steps, then a half cosine from 1 down to
    ``min_ratio`` at step ``total`` (and ``min_ratio`` after it)."""
    if warmup < 0 or total < 0:
        raise ValueError(f"warmup and total must be >= 0, got warmup={warmup}, total={total}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return factor


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
