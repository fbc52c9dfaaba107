"""Confidence intervals used by every table."""

from __future__ import annotations

import numpy as np

__all__ = ["wilson_interval", "mean_interval"]

Z_95 = 1.959963984540054


def wilson_interval(successes, n, z: float = Z_95):
    """Wilson score interval for a binomial proportion; arrays broadcast. Returns (low, high).

    Written here rather than taken from SciPy on purpose: ``scipy.stats.binomtest(k, n)
    .proportion_ci(method="wilson")`` takes one count at a time, while the tables call this on
    whole columns of counts (NaN where ``n`` is 0); statsmodels' ``proportion_confint``, which
    broadcasts, is not a dependency. The formula is the same (tests/test_observables.py checks
    it against SciPy's)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / n, np.nan)
        denom = 1.0 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def mean_interval(values, axis=0, z: float = Z_95):
    """Mean with a normal-approximation interval (mean +- z * standard error). Returns (mean, low, high, n)."""
    x = np.asarray(values, dtype=float)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    sem = x.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, mean - z * sem, mean + z * sem, n
