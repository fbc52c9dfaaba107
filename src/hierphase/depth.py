"""The depth of a hierarchy read off its change correlations at the susceptibility peak.

At the peak, C falls by a roughly constant factor ``rho = s**-a`` per tree level, and chi sums
the pairs of every level: with pair sums ``P(k) = N(k) C(k)``, ``N(k) = d (s**k - s**(k-1))``
ordered pairs at tree distance ``k`` and ``P(0) = d C(0)``,

    chi = 1 + sum_{k=1..L} (s - 1) s**(k-1) C(k) / C(0).

If every level decayed as the first ones do, ``C(k) = C(1) rho**(k-1)``, the sum is geometric in
``q = s rho = s**(1 - a)`` and

    chi = 1 + (s - 1) (C(1)/C(0)) (q**L - 1)/(q - 1)   =>   L_geometric = log(1 + (chi - 1)(q - 1)
                                                          / ((s - 1) C(1)/C(0))) / log q

(``L_geometric = (chi - 1) / ((s - 1) C(1)/C(0))`` at ``q = 1``). Each level adds about the same
to chi when ``a`` is near 1: chi grows by a constant per level, where a class flip alone would
grow it in proportion to ``d = s**L``. :func:`depth_features` computes this from the first
``k_fit`` levels of C and chi at the peak, nothing else: not the number of distance bins, not
the number of sites (which would give ``L`` away). The levels under the root decay faster than
the first ones (the class prior sits there), so ``L_geometric`` falls short of ``L`` by a
systematic amount, calibrated on RHMs of known depth (:func:`calibrate_depth`, least squares
``L = alpha + beta * feature``) and applied to others (:func:`estimate_depth`, rounded). The
default feature is ``chi_max`` itself, the constant growth of chi per level: ``L_geometric``
amplifies the sampling error of the decay read on three levels (``q**L``), and on sampled
tables it calibrates worse than chi alone.
``s`` is read off the tree bins (``r = s**k - 1`` at ``k = 1``): the block structure of the
positions, not a fit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from . import scaling

__all__ = [
    "FEATURE_COLUMNS",
    "geometric_depth",
    "depth_features",
    "DepthCalibration",
    "calibrate_depth",
    "ESTIMATE_COLUMNS",
    "estimate_depth",
    "CALIBRATION_COLUMNS",
    "held_out_estimates",
]

FEATURE_COLUMNS = ["family", "experiment", "model", "rule_seed", "L", "s", "peak_noise",
                   "chi_max", "C0", "C1", "rho", "a_first", "L_geometric"]


def geometric_depth(chi: float, c1_over_c0: float, q: float, s: int) -> float:
    """``L`` solving ``chi = 1 + (s - 1) c1_over_c0 (q**L - 1)/(q - 1)`` (module docstring);
    NaN where no positive solution exists."""
    if not (isinstance(s, (int, np.integer)) and s >= 2):
        raise ValueError(f"s must be an integer >= 2, got {s!r}")
    if not (np.isfinite(chi) and np.isfinite(c1_over_c0) and np.isfinite(q)) \
            or c1_over_c0 <= 0 or q <= 0 or chi < 1:
        return math.nan
    base = (chi - 1) / ((s - 1) * c1_over_c0)
    if abs(q - 1) < 1e-12:
        return float(base)
    arg = 1 + base * (q - 1)
    return float(math.log(arg) / math.log(q)) if arg > 0 else math.nan


def depth_features(correlations: pd.DataFrame, susceptibility: pd.DataFrame, *,
                   k_fit: int = 3) -> pd.DataFrame:
    """Per measured RHM (family, experiment, model, rule_seed, L; leaves): the chi peak of the
    noise grid, ``C(0)``, ``C(1)`` and ``rho = C(k_fit)/C(1)`` ** ``(1/(k_fit - 1))`` there (a
    per-level decay read on levels ``1..k_fit``; ``a_first = -log rho / log s``), and
    :func:`geometric_depth` (:data:`FEATURE_COLUMNS`). ``L`` is carried as a label only."""
    if not (isinstance(k_fit, (int, np.integer)) and k_fit >= 2):
        raise ValueError(f"k_fit must be an integer >= 2, got {k_fit!r}")
    keys = ["family", "experiment", "model", "rule_seed", "L"]
    sus = scaling.leaves(susceptibility)
    cor = scaling.leaves(correlations)
    sus = sus[sus["model"] != "mean_field"]
    rows = []
    for key, g in sus.groupby(keys, sort=True):
        g = g[g["chi"].notna()]
        if g.empty:
            continue
        peak = g.loc[g["chi"].idxmax()]
        sel = np.ones(len(cor), dtype=bool)
        for col, value in zip(keys, key):
            sel &= (cor[col] == value).fillna(False).to_numpy(dtype=bool)
        at = cor[sel & np.isclose(cor["noise"].to_numpy(float), float(peak["noise"]))]
        at = at[at["distance"] <= k_fit].sort_values("distance")
        s = scaling._tree_base(at)
        C = dict(zip(at["distance"].astype(int), at["C"].astype(float)))
        if not all(k in C for k in range(k_fit + 1)) or C[1] <= 0 or C[k_fit] <= 0:
            continue
        rho = (C[k_fit] / C[1]) ** (1.0 / (k_fit - 1))
        rows.append(dict(zip(keys, key), s=s, peak_noise=float(peak["noise"]),
                         chi_max=float(peak["chi"]), C0=C[0], C1=C[1], rho=rho,
                         a_first=-math.log(rho) / math.log(s),
                         L_geometric=geometric_depth(float(peak["chi"]), C[1] / C[0], s * rho, s)))
    out = pd.DataFrame(rows, columns=FEATURE_COLUMNS)
    out["L"] = out["L"].astype("Int64")
    out["s"] = out["s"].astype("Int64")
    return out


class DepthCalibration(NamedTuple):
    """``L = alpha + beta * feature`` fitted on RHMs of known depth."""

    alpha: float
    beta: float
    feature: str
    residual_sd: float  # in levels
    n: int


def calibrate_depth(features: pd.DataFrame, feature: str = "chi_max") -> DepthCalibration:
    """Least squares of the known ``L`` on ``feature`` (a column of :func:`depth_features`:
    ``L_geometric``, or ``chi_max`` for the plain linear growth of chi with depth). Needs two
    different depths."""
    if feature not in features.columns:
        raise ValueError(f"feature must be a column of the features table, got {feature!r}")
    ok = features[np.isfinite(features[feature].astype(float)) & features["L"].notna()]
    if ok["L"].nunique() < 2:
        raise ValueError("calibrate_depth needs RHMs of at least two depths")
    x, y = ok[feature].to_numpy(float), ok["L"].to_numpy(float)
    beta, alpha = np.polyfit(x, y, 1)
    resid = y - (alpha + beta * x)
    sd = float(np.sqrt(resid @ resid / (len(x) - 2))) if len(x) > 2 else math.nan
    return DepthCalibration(float(alpha), float(beta), feature, sd, len(x))


ESTIMATE_COLUMNS = FEATURE_COLUMNS + ["feature", "L_estimate", "L_hat", "exact"]


def estimate_depth(features: pd.DataFrame, calibration: DepthCalibration) -> pd.DataFrame:
    """``L_estimate = alpha + beta * feature`` per RHM, ``L_hat`` its nearest integer, and
    ``exact`` where ``L_hat`` equals the (hidden) ``L`` (:data:`ESTIMATE_COLUMNS`)."""
    out = features.copy()
    out["feature"] = calibration.feature
    out["L_estimate"] = calibration.alpha + calibration.beta * out[calibration.feature].astype(float)
    out["L_hat"] = np.round(out["L_estimate"]).astype("Int64")
    out["exact"] = (out["L_hat"] == out["L"]).fillna(False).astype(bool)
    return out[ESTIMATE_COLUMNS]


#: One row per calibration of :func:`held_out_estimates`.
CALIBRATION_COLUMNS = ["experiment", "feature", "k_fit", "alpha", "beta", "residual_sd",
                       "n_calibration", "calibration_L", "n_held_out", "n_exact",
                       "mean_abs_error", "max_abs_error", "held_out_depths_exact"]


def held_out_estimates(features: pd.DataFrame, calibration_L, calibration_rule_seeds, *,
                       feature: str = "chi_max", k_fit: int = 3,
                       experiment: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calibrate on the RHMs of ``features`` whose depth is in ``calibration_L`` and rule draw in
    ``calibration_rule_seeds`` (:func:`calibrate_depth`), estimate every RHM
    (:func:`estimate_depth`, with a ``role`` column: ``calibration`` or ``held_out``) and score
    the held-out ones: how many are exact, the mean and largest ``|L_estimate - L|``, and how many
    of the held-out RHMs whose depth was never calibrated on are exact
    (:data:`CALIBRATION_COLUMNS`). Needs at least one held-out RHM."""
    in_cal = (features["L"].isin(list(calibration_L))
              & features["rule_seed"].isin(list(calibration_rule_seeds))).to_numpy(dtype=bool)
    if in_cal.all():
        raise ValueError("every RHM is in the calibration: none is left to estimate")
    cal = calibrate_depth(features[in_cal], feature)
    est = estimate_depth(features, cal)
    est.insert(0, "role", np.where(in_cal, "calibration", "held_out"))
    held = est[~in_cal]
    error = (held["L_estimate"] - held["L"].astype(float)).abs()
    new_depth = ~held["L"].isin(list(calibration_L))
    summary = pd.DataFrame([dict(
        experiment=experiment, feature=feature, k_fit=int(k_fit), alpha=cal.alpha, beta=cal.beta,
        residual_sd=cal.residual_sd, n_calibration=cal.n,
        calibration_L=",".join(str(int(L)) for L in sorted(set(calibration_L))),
        n_held_out=len(held), n_exact=int(held["exact"].sum()),
        mean_abs_error=float(error.mean()), max_abs_error=float(error.max()),
        held_out_depths_exact=f"{int(held['exact'][new_depth].sum())}/{int(new_depth.sum())}")],
        columns=CALIBRATION_COLUMNS)
    return est, summary
