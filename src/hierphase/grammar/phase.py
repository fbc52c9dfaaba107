"""Where a grammar's class transition is sharp: a small phase diagram across grammars of different
ambiguity, from each grammar's class curves at several sentence lengths, and the RHM's mean field
where the grammar is an RHM.

A grammar's class curve does not run from 1 to 1/n_classes as the RHM's does: where right-hand
sides are shared, the root of a clean sentence is itself uncertain, and where roots differ in
probability or in the lengths they yield, full noise leaves more than 1/n_classes. So each curve is
read against its own two ends, both exact for the sentences swept (:func:`class_anchors`):

* ``clean``: the mean posterior probability of the true root given the clean sentence (noise 0);
* ``floor``: the same given no token at all (full noise: the root's posterior given the length).

The *relative* class curve ``q = (P - floor) / (clean - floor)`` is the fraction of the class
information the noise leaves (1 clean, 0 at full noise). Its half point is where ``q`` = 1/2 and
its width the distance between ``q`` = 0.9 and ``q`` = 0.1 (:func:`relative_points`). A grammar
whose clean sentences carry no class information (``clean - floor`` within two standard errors of
0) has no transition to measure: NaN.

A transition sharpens when that width shrinks as sentences grow: the *sharpening* is the slope
of log2(width) against log2(n), fitted by weighted least squares with the widths' errors (RHM mean
field: width ~ n^(-1/nu) with n = s^L tokens, a slope of -1/nu). A grammar whose width does not
shrink (slope within two standard errors of zero or above) shows no sharp transition over the
lengths measured.

An RHM written as a grammar has one length, s^L: the RHMs of several depths with the same v, m
and s form one *family* (:func:`rhm_families`), read as one grammar at their lengths. It is the
positive control: its transition sharpens (mean field: slope -1/nu), and the mean field's own
widths at the same depths, read the same way, give the sharpening to expect
(``mean_field_sharpening``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

import torch

from hierphase import theory
from hierphase.scaling import level_crossing, weighted_least_squares
from hierphase.tables import GRAMMAR_PHASE_COLUMNS

from .inside import posterior
from .pcfg import Grammar

__all__ = ["class_anchors", "relative_points", "sharpening", "mean_field_comparison",
           "mean_field_sharpening", "rhm_families", "phase_rows", "DESCRIPTORS",
           "ANCHOR_COLUMNS"]

#: The ensemble settings a row carries (NaN where the source has none: an RHM, a file).
DESCRIPTORS = ("n_binary", "overlap", "law", "zipf_exponent")
#: The noise grid on which the mean field's half point is found.
_MEAN_FIELD_GRID = np.linspace(0.0, 1.0, 4001)


#: :func:`class_anchors`' columns: per length, the clean and the full-noise ends of the class curve.
ANCHOR_COLUMNS = ["length", "clean", "clean_se", "floor", "floor_se", "n_sentences"]


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    x = values.to(torch.float64)
    se = float(x.std(unbiased=True) / np.sqrt(len(x))) if len(x) > 1 else np.nan
    return float(x.mean()), se


def class_anchors(grammar: Grammar, sentences: Mapping[int, torch.Tensor],
                  roots: Mapping[int, torch.Tensor]) -> pd.DataFrame:
    """The two ends of each length's class curve (:data:`ANCHOR_COLUMNS`), exactly, for the
    sentences swept (``sentences[n]``: (b, n) tokens, ``roots[n]``: (b,) their true root
    symbols): ``clean``, the mean posterior probability of the true root given the clean
    sentence; ``floor``, the mean prior probability of the true root given only the length (what
    every noise leaves at full strength, for the epsilon-process and masking alike); each with
    its standard error over the sentences."""
    rows = []
    for n in sorted(int(k) for k in sentences):
        tokens = torch.as_tensor(sentences[n]).long()
        root = torch.as_tensor(roots[n]).long()
        b = tokens.shape[0]
        clean_ev = torch.full((b, n, grammar.n_terminals), -np.inf, dtype=torch.float64)
        clean_ev.scatter_(-1, tokens.unsqueeze(-1), 0.0)
        clean = posterior(grammar, clean_ev, spans=False).root.gather(1, root[:, None])[:, 0]
        prior = posterior(grammar, torch.zeros((1, n, grammar.n_terminals),
                                               dtype=torch.float64), spans=False).root[0]
        rows.append({"length": n, **dict(zip(("clean", "clean_se"), _mean_se(clean))),
                     **dict(zip(("floor", "floor_se"), _mean_se(prior[root]))),
                     "n_sentences": b})
    return pd.DataFrame(rows, columns=ANCHOR_COLUMNS)


def relative_points(noise, probability, se, clean: float, clean_se: float,
                    floor: float) -> dict:
    """The relative class curve ``q = (P - floor) / (clean - floor)`` (module docstring) of one
    length: ``eps_half`` (q = 1/2), ``eps_90`` and ``eps_10`` and ``width = eps_10 - eps_90``,
    with errors from ``se`` through the local slope (:func:`hierphase.scaling.level_crossing`).
    NaN where the clean sentences carry no class information (``clean - floor`` not above two
    standard errors of ``clean``). Both ends are exact points of the curve: q = 1 at noise 0 and
    q = 0 at noise 1 (every token resampled or masked leaves the root's posterior given the
    length), added where the grid lacks them, so a level between the grid's last point and 1 is
    interpolated linearly (its error counts the grid point's only)."""
    out = dict.fromkeys(("eps_half", "eps_half_err", "eps_90", "eps_10", "width", "width_err"),
                        np.nan)
    drop = float(clean) - float(floor)
    if not drop > 2 * (clean_se if np.isfinite(clean_se) else 0.0) or not drop > 0:
        return out
    x = np.asarray(noise, dtype=float)
    q = (np.asarray(probability, dtype=float) - floor) / drop
    sigma = np.asarray(se, dtype=float) / drop
    for end, value in ((0.0, 1.0), (1.0, 0.0)):
        if not np.any(x == end):
            x, q, sigma = np.append(x, end), np.append(q, value), np.append(sigma, 0.0)
    order = np.argsort(x, kind="mergesort")
    noise, q, sigma = x[order], q[order], sigma[order]
    out["eps_half"], out["eps_half_err"] = level_crossing(noise, q, 0.5, sigma)
    hi, hi_err = level_crossing(noise, q, 0.9, sigma)
    lo, lo_err = level_crossing(noise, q, 0.1, sigma)
    out["eps_90"], out["eps_10"] = hi, lo
    out["width"], out["width_err"] = lo - hi, float(np.hypot(hi_err, lo_err))
    return out


def sharpening(lengths, widths, errors) -> tuple[float, float]:
    """Slope of log2(width) against log2(n) and its standard error, by weighted least squares
    (:func:`hierphase.scaling.weighted_least_squares`; the error of log2(width) is the width's
    relative error over ln 2) over the lengths with a finite, positive width; the covariance is
    the weights', not inflated by the scatter of two or three points. Without usable errors the
    fit is unweighted and its error comes from the residuals (NaN with two points). NaN with
    fewer than two lengths."""
    n = np.asarray(lengths, dtype=float)
    w = np.asarray(widths, dtype=float)
    e = np.asarray(errors, dtype=float)
    ok = np.isfinite(w) & (w > 0) & np.isfinite(n) & (n > 0)
    if ok.sum() < 2:
        return np.nan, np.nan
    x, y = np.log2(n[ok]), np.log2(w[ok])
    sigma = e[ok] / (w[ok] * np.log(2.0))
    usable = bool(np.all(np.isfinite(sigma) & (sigma > 0)))
    line = weighted_least_squares(np.column_stack([np.ones(len(x)), x]), y,
                                  sigma if usable else None, inflate=False)
    variance = line.cov[1, 1]
    return float(line.beta[1]), float(np.sqrt(variance)) if np.isfinite(variance) else np.nan


def mean_field_comparison(noise, probability, rhm: Mapping, n_classes: int) -> tuple[float, float]:
    """The RHM mean field's class curve (:func:`hierphase.theory.class_reconstruction`,
    epsilon-process) against a grammar's measured one at the same noise values: (the mean field's
    half point on the relative curve, where it has lost half of its drop from 1 to
    1/n_classes, as :func:`relative_points` reads a measured curve; the largest gap between the
    measured probability of the true root and the mean field)."""
    v, m, s, L = (int(rhm[k]) for k in ("v", "m", "s", "L"))
    curve = theory.class_reconstruction(_MEAN_FIELD_GRID, v, m, s, L, n_classes=n_classes)
    middle = 1.0 / n_classes + 0.5 * (1.0 - 1.0 / n_classes)
    half = level_crossing(_MEAN_FIELD_GRID, np.asarray(curve, dtype=float), middle)[0]
    at = theory.class_reconstruction(np.asarray(noise, dtype=float), v, m, s, L,
                                     n_classes=n_classes)
    gap = np.max(np.abs(np.asarray(probability, dtype=float) - np.asarray(at, dtype=float)))
    return float(half), float(gap)


def mean_field_sharpening(rhm: Mapping, depths, n_classes: int) -> float:
    """The sharpening the RHM mean field gives over ``depths`` (its class curves,
    :func:`hierphase.theory.class_reconstruction`, read as :func:`relative_points` reads a
    measured one: ends 1 and 1/n_classes, 90-10% width, slope of log2(width) on log2(s^L)); NaN
    with fewer than two depths."""
    v, m, s = (int(rhm[k]) for k in ("v", "m", "s"))
    depths = sorted(int(L) for L in depths)
    if len(depths) < 2:
        return np.nan
    widths = []
    for L in depths:
        curve = theory.class_reconstruction(_MEAN_FIELD_GRID, v, m, s, L, n_classes=n_classes)
        widths.append(relative_points(_MEAN_FIELD_GRID, curve, np.zeros_like(_MEAN_FIELD_GRID),
                                      1.0, 0.0, 1.0 / n_classes)["width"])
    return sharpening([s**L for L in depths], widths, [np.nan] * len(depths))[0]


def rhm_families(sources: Mapping[str, Mapping]) -> list[list[str]]:
    """The experiments read together in the phase diagram, in the order of ``sources``: each
    RHM written as a grammar joins the first family of RHMs with the same v, m, s and number of
    classes that has no RHM of its depth yet; every other experiment stands alone."""
    families, keys = [], []
    for name, source in sources.items():
        key = None
        if source["source"] == "rhm":
            r = source["rhm"]
            key = tuple(r.get(k) for k in ("v", "m", "s", "n_classes"))
            depths = {i: {sources[e]["rhm"]["L"] for e in f} for i, f in enumerate(families)
                      if keys[i] == key}
            free = [i for i, d in depths.items() if r["L"] not in d]
            if free:
                families[free[0]].append(name)
                continue
        families.append([name])
        keys.append(key)
    return families


def phase_rows(experiment: str, source: Mapping, kept: pd.DataFrame, anchors: pd.DataFrame,
               n_classes: int) -> pd.DataFrame:
    """One row per process of one grammar (``GRAMMAR_PHASE_COLUMNS``): its ensemble settings
    (``source``: ``{"source": ..., "random": {...}}`` or ``{"source": "rhm", "rhm": {...}}``);
    from its root curves (``kept``: the pooled kept table) read against their ends (``anchors``:
    :func:`class_anchors`) by :func:`relative_points`, the width at the shortest and the
    longest length, the sharpening and whether the transition sharpens (slope more than two
    standard errors below zero), and the half point at the longest length; the ends themselves
    at the longest length; and (an RHM, epsilon-process) the mean field's half point and
    largest gap, and the mean field's sharpening over the depths of an RHM family
    (:func:`rhm_families`: ``source["rhm"]["L"]`` a list, one depth per length of ``kept``)."""
    settings = source.get(source["source"]) or {}
    described = {k: settings.get(k, np.nan) if source["source"] == "random" else np.nan
                 for k in DESCRIPTORS}
    root = kept[(kept["model"] == "grammar") & (kept["observable"] == "root")]
    ends = anchors.set_index("length")
    rows = []
    for process, curves in root.groupby("process", sort=True):
        points = []
        for n, c in curves.groupby("length", sort=True):
            c = c.sort_values("noise")
            a = ends.loc[int(n)]
            points.append({"length": int(n), "curve": c, **relative_points(
                c["noise"], c["probability"], c["probability_se"].fillna(0.0), a["clean"],
                a["clean_se"], a["floor"])})
        first, last = points[0], points[-1]
        slope, err = sharpening([p["length"] for p in points], [p["width"] for p in points],
                                [p["width_err"] for p in points])
        curve, a = last["curve"], ends.loc[last["length"]]
        mf_half, mf_gap, mf_slope = np.nan, np.nan, np.nan
        if source["source"] == "rhm" and process == "epsilon" and n_classes >= 2:
            depths = np.atleast_1d(settings["L"]).tolist()
            mf_half, mf_gap = mean_field_comparison(
                curve["noise"], curve["probability"], {**settings, "L": max(depths)}, n_classes)
            mf_slope = mean_field_sharpening(settings, depths, n_classes)
        rows.append({
            "experiment": experiment, "source": source["source"], **described,
            "process": process, "n_lengths": len(points), "length_min": first["length"],
            "length_max": last["length"], "width_first": first["width"],
            "width_first_err": first["width_err"], "width_last": last["width"],
            "width_last_err": last["width_err"], "sharpening": slope, "sharpening_err": err,
            "sharp": bool(np.isfinite(slope) and np.isfinite(err) and slope + 2 * err < 0),
            "eps_half": last["eps_half"], "eps_half_err": last["eps_half_err"],
            "kept_clean": a["clean"], "kept_clean_se": a["clean_se"], "kept_floor": a["floor"],
            "mean_field_half": mf_half, "mean_field_gap": mf_gap,
            "mean_field_sharpening": mf_slope})
    return pd.DataFrame(rows, columns=GRAMMAR_PHASE_COLUMNS)
