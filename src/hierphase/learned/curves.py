"""Learning curves of trained denoisers: which level of the grammar is learned first, and with how
many training data.

* :func:`snapshot_steps` -- the log-spaced training steps at which the weights are kept.
* :func:`sample_complexity` -- per level, the training-set size ``P*_l`` at which the validity of
  that level (:func:`hierphase.learned.evaluate.validity_table`, novel samples) first reaches a
  threshold, with the bracket of measured P values around it.
* :func:`perfect_generaliser_memorized` -- the fraction of a perfect generaliser's samples that
  copy a training datum: what memorisation a model that has learned the whole grammar still shows.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from hierphase.tables import SAMPLE_COMPLEXITY_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SAMPLE_COMPLEXITY_COLUMNS", "snapshot_steps", "sample_complexity",
           "perfect_generaliser_memorized"]



def snapshot_steps(steps: int, n: int, first: int) -> list[int]:
    """``n`` training steps, log-spaced from ``first`` (at most ``steps``) to ``steps`` (rounded,
    distinct, so fewer than ``n`` where the range is short; the last is ``steps``: the final
    model); empty when ``n`` is 0."""
    if n < 0 or first < 1 or steps < 1:
        raise ValueError(f"snapshots need n >= 0, first >= 1 and steps >= 1, got n={n}, "
                         f"first={first}, steps={steps}")
    if n == 0:
        return []
    first = min(first, steps)
    if n == 1:
        return [int(steps)]
    grid = np.round(np.geomspace(first, steps, n)).astype(int)
    return sorted({int(k) for k in grid} | {int(steps)})


def _crossing(P: np.ndarray, value: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """First crossing of ``threshold`` by ``value`` with ascending ``P``: (P*, P_low, P_high)."""
    above = np.flatnonzero(value >= threshold)
    if above.size == 0:
        return math.nan, float(P[-1]), math.inf
    i = int(above[0])
    if i == 0:
        return math.nan, 0.0, float(P[0])
    p0, p1, v0, v1 = P[i - 1], P[i], value[i - 1], value[i]
    frac = (threshold - v0) / (v1 - v0)
    return float(np.exp(np.log(p0) + frac * (np.log(p1) - np.log(p0)))), float(p0), float(p1)


def sample_complexity(validity: pd.DataFrame, thresholds: Sequence[float],
                      samples: str = "novel", measure: str = "tuples_valid",
                      min_samples: int = 1) -> pd.DataFrame:
    """Per (experiment, process, seed, level) and threshold: the P at which ``measure`` (a
    column of the validity table; by default the fraction of a level's tuples that are rules of
    that level) of the ``samples`` rows first reaches the threshold as P grows. Novel samples by
    default: copies of training data are valid at every level without any rule being learned.
    Rows measured on fewer than ``min_samples`` samples are skipped (a model that copies its
    training data makes few novel samples, and a level's validity read off a handful of them is
    noise), as are rows with no sample (NaN measure)."""
    import pandas as pd

    if not (isinstance(min_samples, (int, np.integer)) and min_samples >= 1):
        raise ValueError(f"min_samples must be an int >= 1, got {min_samples!r}")
    df = validity[(validity["samples"] == samples) & (validity["n_samples"] >= min_samples)]
    df = df.dropna(subset=[measure])
    rows = []
    for (experiment, process, seed, level), part in df.groupby(
            ["experiment", "process", "seed", "level"], sort=True):
        part = part.sort_values("P")
        P, value = part["P"].to_numpy(float), part[measure].to_numpy(float)
        for threshold in thresholds:
            star, low, high = _crossing(P, value, float(threshold))
            rows.append({"experiment": experiment, "process": process, "seed": int(seed),
                         "measure": measure, "level": int(level), "threshold": float(threshold),
                         "P_star": star, "P_low": low, "P_high": high})
    return pd.DataFrame(rows, columns=SAMPLE_COMPLEXITY_COLUMNS)


def perfect_generaliser_memorized(n_data: int, P) -> np.ndarray:
    """Expected fraction of samples that copy a training datum for a model that samples the RHM's
    ``n_data`` data uniformly (every datum is equally likely under the RHM), trained on ``P``
    draws: the expected number of distinct training data over ``n_data``, 1 - (1 - 1/n)^P."""
    P = np.asarray(P, dtype=float)
    return -np.expm1(P * np.log1p(-1.0 / n_data))
