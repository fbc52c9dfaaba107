"""What every workflow job does first: log to its file, pin its threads, check the GPUs it asked
for, describe its config.

Kept free of torch and of the science modules: a job that only reads tables and draws a figure
should not pay torch's import (about 3 s per job, a large part of a small run's time); only a job
that asked for a GPU imports torch here, to check it.
"""

from __future__ import annotations

import io
import logging
import math
import sys
import time
from typing import Callable, TextIO

__all__ = ["log_to", "job_config", "limit_threads", "check_gpus", "start_device_job",
           "ProgressLines", "PROGRESS_EVERY"]

#: Seconds between two lines of one progress bar in a job's log.
PROGRESS_EVERY = 30.0


class ProgressLines(io.TextIOBase):
    """A job's stderr in its log file. Text passes through, but a progress bar (tqdm) redraws its
    line after a carriage return, which a file keeps: 969 redraws in one training log. Here each
    redraw is held back and written as a line of its own (tqdm's count, elapsed<remaining time
    and rate) at most every ``every`` seconds, and the bar's last state when it closes or gives
    way to other output, so a log holds no carriage return and can be read with ``tail``."""

    def __init__(self, stream: TextIO, every: float = PROGRESS_EVERY,
                 clock: Callable[[], float] = time.monotonic):
        if not isinstance(every, (int, float)) or isinstance(every, bool) \
                or not math.isfinite(every) or every < 0:
            raise ValueError(f"every must be a finite number of seconds >= 0, got {every!r}")
        super().__init__()
        self.stream, self.every, self.clock = stream, float(every), clock
        self._held: str | None = None  # the bar's latest redraw, not yet written
        self._bar = False  # a bar's line is open: the next newline ends it
        self._last = -math.inf

    def _emit(self) -> None:
        if self._held is not None:
            self.stream.write(self._held + "\n")
            self._held, self._last = None, self.clock()

    def _redraw(self, text: str) -> None:
        text = text.rstrip()
        if not text:  # a bar cleared for other output (tqdm.write): show its state first
            self._emit()
            self._bar = False
            return
        self._held, self._bar = text, True
        if self.clock() - self._last >= self.every:
            self._emit()

    def _text(self, text: str) -> None:
        if self._bar and text:
            self._emit()
            self._bar = False
            if text.startswith("\n"):  # the bar's own line end: its line is already written
                text = text[1:]
        if text:
            self.stream.write(text)

    def write(self, s: str) -> int:
        head, *redraws = s.split("\r")
        self._text(head)
        for piece in redraws:
            line, newline, rest = piece.partition("\n")
            self._redraw(line)
            if newline:
                self._text(newline + rest)
        return len(s)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self._emit()
        self.flush()
        super().close()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", "utf-8")


def log_to(path, progress_every: float = PROGRESS_EVERY) -> None:
    """Send logging and stderr (warnings, tqdm's progress bars as lines at most every
    ``progress_every`` seconds: :class:`ProgressLines`) of a workflow job to its log file."""
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    err = ProgressLines(stream, progress_every)
    sys.stderr = err
    import atexit

    atexit.register(err._emit)  # a bar still open when the job ends: its last state
    # logging writes through it too, so that tqdm's logging_redirect_tqdm (training.progress_log)
    # takes its handler for the console's and shows a bar's state before each log line
    logging.basicConfig(stream=err, level=logging.INFO, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter


def check_gpus(resources, rule: str = "this job") -> None:
    """First thing in a job of a rule that may run on a GPU: when its ``gpu`` resource (what it
    asked SLURM or the workstation profile for) is above 0, fail unless CUDA works here
    (:func:`hierphase.devices.require_gpus`, a message naming the device and the driver), so that
    ``device: auto`` cannot fall back to the CPU inside a GPU job. ``resources``: the job's
    (``snakemake.resources``), or a mapping."""
    items = dict(resources.items()) if hasattr(resources, "items") else None
    if items is None:
        raise TypeError(f"resources must be a mapping (snakemake.resources), got "
                        f"{type(resources).__name__}")
    gpus = items.get("gpu", 0) or 0
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise ValueError(f"resources['gpu'] must be a non-negative integer, got {gpus!r}")
    if gpus:
        from hierphase.devices import require_gpus

        require_gpus(gpus, job=f"rule {rule}")


def start_device_job(smk, branch: str) -> str:
    """The opening of a job that may run on a GPU, from its ``snakemake`` object: log to its log
    file (:func:`log_to`), fail now if it asked for a GPU and CUDA does not work
    (:func:`check_gpus`), pin its threads (:func:`limit_threads`); returns the branch's
    ``device`` setting, read from the config rather than a param so that moving a run between
    machines reruns nothing."""
    log_to(smk.log[0])
    check_gpus(smk.resources, smk.rule)
    limit_threads(smk.threads)
    return smk.config[branch]["device"]


def job_config(*parts) -> dict:
    """One plain dict (for a sidecar) from a job's named values, e.g. its wildcards and params:
    anything with ``items()``, later parts winning."""
    out: dict = {}
    for part in parts:
        out.update(dict(part.items()))
    return out


def limit_threads(n: int = 1) -> None:
    """Pin torch (and numba, when present) to ``n`` threads: jobs run side by side on shared cores,
    and a fixed thread count keeps floating-point reductions identical whatever ``-c`` is."""
    import torch

    torch.set_num_threads(max(1, int(n)))
    try:
        import numba

        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    except ImportError:  # pragma: no cover - numba is a dependency, but BP falls back to torch
        pass
