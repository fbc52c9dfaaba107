"""Confidence intervals used by every table."""

from __future__ import annotations

import numpy as np

__all__ = ["wilson_interval", "mean_interval", "ratio_influence", "influence_se"]

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


def ratio_influence(num, den) -> tuple[np.ndarray, np.ndarray]:
    """The ratio ``sum_i num_i / sum_i den_i`` over independent units (axis 0) and each unit's
    linearised influence on it, ``(num_i - R den_i) / sum den`` (NaN where the weights sum to
    <= 0): a weighted mean's (``num = w x``, ``den = w``), or any ratio of sums."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    total = den.sum(0)
    ok = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(ok, num.sum(0) / total, np.nan)
        influence = np.where(ok, (num - ratio * den) / total, np.nan)
    return ratio, influence


def influence_se(influence) -> np.ndarray:
    """Standard error of a ratio of sums from its units' influences (:func:`ratio_influence`),
    by the delta method with the small-sample factor of the ratio estimator:
    ``sqrt(k / (k - 1) sum_i influence_i**2)`` over the k units; NaN with one unit."""
    influence = np.asarray(influence, dtype=float)
    k = influence.shape[0]
    if k < 2:
        return np.full(influence.shape[1:], np.nan)
    return np.sqrt(k / (k - 1) * np.sum(influence**2, axis=0))
