"""What every workflow job does first: log to its file, pin its threads, describe its config.

Kept free of torch and of the science modules: a job that only reads tables and draws a figure
should not pay torch's import (about 3 s per job, a large part of a small run's time).
"""

from __future__ import annotations

import logging
import sys

__all__ = ["log_to", "job_config", "limit_threads"]


def log_to(path) -> None:
    """Send logging and stderr (tqdm's progress bars, warnings) of a workflow job to its log file."""
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting chatter


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
