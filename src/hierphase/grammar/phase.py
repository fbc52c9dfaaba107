"""Where a grammar's class transition is sharp: a small phase diagram across grammars of different
ambiguity, from each grammar's class curves at several sentence lengths (its finite-size points,
:func:`hierphase.stages.grammar.finite_size`), and the RHM's mean field where the grammar is an
RHM.

A transition sharpens when the 90-10% width of the class curve shrinks as sentences grow: the
*sharpening* is the slope of log2(width) against log2(n), fitted by weighted least squares with
the widths' errors (RHM mean field: width ~ n^(-1/nu) with n = s^L tokens, a slope of -1/nu). A grammar whose width does not shrink (slope within two standard errors of zero or
above) shows no sharp transition over the lengths measured.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hierphase import theory
from hierphase.scaling import level_crossing
from hierphase.tables import GRAMMAR_PHASE_COLUMNS

__all__ = ["sharpening", "mean_field_comparison", "phase_rows", "DESCRIPTORS"]

#: The ensemble settings a row carries (NaN where the source has none: an RHM, a file).
DESCRIPTORS = ("n_binary", "overlap", "law", "zipf_exponent")
#: The noise grid on which the mean field's half point is found.
_MEAN_FIELD_GRID = np.linspace(0.0, 1.0, 4001)


def sharpening(lengths, widths, errors) -> tuple[float, float]:
    """Slope of log2(width) against log2(n) and its standard error, by weighted least squares
    (the error of log2(width) is the width's relative error over ln 2) over the lengths with a finite,
    positive width. Without usable errors the fit is unweighted and its error comes from the
    residuals (NaN with two points). NaN with fewer than two lengths."""
    n = np.asarray(lengths, dtype=float)
    w = np.asarray(widths, dtype=float)
    e = np.asarray(errors, dtype=float)
    ok = np.isfinite(w) & (w > 0) & np.isfinite(n) & (n > 0)
    if ok.sum() < 2:
        return np.nan, np.nan
    x, y = np.log2(n[ok]), np.log2(w[ok])
    sigma = e[ok] / (w[ok] * np.log(2.0))
    if np.all(np.isfinite(sigma) & (sigma > 0)):
        weights = 1.0 / sigma**2
        xm = np.sum(weights * x) / np.sum(weights)
        sxx = np.sum(weights * (x - xm) ** 2)
        slope = np.sum(weights * (x - xm) * y) / sxx
        return float(slope), float(np.sqrt(1.0 / sxx))
    xm = x.mean()
    sxx = np.sum((x - xm) ** 2)
    slope = np.sum((x - xm) * (y - y.mean())) / sxx
    if len(x) < 3:
        return float(slope), np.nan
    resid = y - (y.mean() + slope * (x - xm))
    return float(slope), float(np.sqrt(np.sum(resid**2) / (len(x) - 2) / sxx))


def mean_field_comparison(noise, probability, rhm: Mapping, n_classes: int) -> tuple[float, float]:
    """The RHM mean field's class curve (:func:`hierphase.theory.class_reconstruction`,
    epsilon-process) against a grammar's measured one at the same noise values: (the noise where
    the mean field keeps the class with probability 1/2, the largest gap between the measured
    probability of the true root and the mean field)."""
    v, m, s, L = (int(rhm[k]) for k in ("v", "m", "s", "L"))
    curve = theory.class_reconstruction(_MEAN_FIELD_GRID, v, m, s, L, n_classes=n_classes)
    half = level_crossing(_MEAN_FIELD_GRID, np.asarray(curve, dtype=float), 0.5)[0]
    at = theory.class_reconstruction(np.asarray(noise, dtype=float), v, m, s, L,
                                     n_classes=n_classes)
    gap = np.max(np.abs(np.asarray(probability, dtype=float) - np.asarray(at, dtype=float)))
    return float(half), float(gap)


def phase_rows(experiment: str, source: Mapping, points: pd.DataFrame, kept: pd.DataFrame,
               n_classes: int) -> pd.DataFrame:
    """One row per process of one grammar (``GRAMMAR_PHASE_COLUMNS``): its ensemble settings
    (``source``: ``{"source": ..., "random": {...}}`` or ``{"source": "rhm", "rhm": {...}}``),
    the class curve's width at the shortest and the longest length, the sharpening and whether
    the transition sharpens (slope more than two standard errors below zero), the half point
    and the probability of the true root at the smallest noise at the longest length, and (an
    RHM, epsilon-process) the mean field's half point and largest gap."""
    settings = source.get(source["source"]) or {}
    described = {k: settings.get(k, np.nan) if source["source"] == "random" else np.nan
                 for k in DESCRIPTORS}
    root = kept[(kept["model"] == "grammar") & (kept["observable"] == "root")]
    rows = []
    for process, p in points[points["model"] == "grammar"].groupby("process", sort=True):
        p = p.sort_values("length")
        first, last = p.iloc[0], p.iloc[-1]
        slope, err = sharpening(p["length"], p["width"], p["width_err"])
        curve = root[(root["process"] == process) & (root["length"] == last["length"])]
        curve = curve.sort_values("noise")
        mf_half, mf_gap = np.nan, np.nan
        if source["source"] == "rhm" and process == "epsilon" and n_classes >= 2 and len(curve):
            mf_half, mf_gap = mean_field_comparison(curve["noise"], curve["probability"],
                                                    settings, n_classes)
        rows.append({
            "experiment": experiment, "source": source["source"], **described,
            "process": process, "n_lengths": len(p), "length_min": int(first["length"]),
            "length_max": int(last["length"]), "width_first": first["width"],
            "width_first_err": first["width_err"], "width_last": last["width"],
            "width_last_err": last["width_err"], "sharpening": slope, "sharpening_err": err,
            "sharp": bool(np.isfinite(slope) and np.isfinite(err) and slope + 2 * err < 0),
            "eps_half": last["eps_half"], "eps_half_err": last["eps_half_err"],
            "noise_min": curve["noise"].iloc[0] if len(curve) else np.nan,
            "kept_clean": curve["probability"].iloc[0] if len(curve) else np.nan,
            "mean_field_half": mf_half, "mean_field_gap": mf_gap})
    return pd.DataFrame(rows, columns=GRAMMAR_PHASE_COLUMNS)
