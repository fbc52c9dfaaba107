"""Finite-size scaling of the class curve: where the transition sits as L grows, and how sharp.

Mean field (:mod:`hierphase.theory`) says that the class kept after ``L`` levels is
``F^L(p_L(eps))``: every depth's curve passes through the same point at ``eps*`` (the unstable
fixed point ``p*`` is mapped onto itself), and near it the curve depends on ``eps`` only through
``(eps - eps*) d**(1/nu)``, ``d = s**L`` the number of leaves and ``nu = log s / log F'(p*)``.
Exact BP at finite ``L`` is what that form approximates. From the class curves of several depths
(one kept table, rule draws pooled, :func:`hierphase.stages.rhm.pool_rule_seeds`) this module
measures, per depth (:func:`curve_points`):

- ``eps_half(L)``: the noise where the class kept falls through 1/2
  (:func:`hierphase.scaling.half_point_error`). It is *not* the crossing point: in mean field
  the curves cross at class kept ``p*`` (7/24 = 0.29 at v=32, m=8, s=2), so
  ``eps_half(L) < eps*`` and it approaches ``eps*`` like ``d**(-1/nu)``.
- the 90-10% ``width``: on the normalised curve ``y = (kept - 1/n_classes) / (1 - 1/n_classes)``
  (1 when the class is always kept, 0 at chance), the noise where ``y`` falls through 0.1 minus
  the noise where it falls through 0.9. It shrinks like ``d**(-1/nu)``.
- ``crossing``: where the curve of depth ``L`` and that of the next depth measured cross (the
  deeper curve falls from above the shallower one to below it; where noise makes them cross more
  than once, the crossing nearest the deeper curve's half point). In mean field every crossing is
  exactly ``eps*``; at finite ``L`` BP's crossings drift only through corrections to scaling.
  Noise values where the two curves are equal (both 1 at zero noise, both at chance at full
  noise) are left out: there the curves touch, they do not cross.

Errors. The kept table's interval ``[ci_low, ci_high]`` is the 95% Wilson interval of
``kept_sampled`` (one posterior sample per datum): its half-width over 1.96 is the standard
error of each point. The curves are those of ``kept_marginal`` (the mean posterior probability
of the true class), the lower-variance estimator of the same quantity: per datum it is the
expectation of the sampled indicator, so its variance over data is at most the sampled one, and
the Wilson error is an upper bound for it (conservative). Points of different noise values and
depths are treated as independent (each noise value and depth has its own noise draws; the data
of one depth are shared across its noise values). A crossing of a linearly interpolated curve
with a level (or of two curves with each other) carries the error of its two bracketing points
through the local slope (:func:`hierphase.scaling.level_crossing`); a width the two crossings'
errors in quadrature.

Fits over the depths ``L_min <= L <= L_max`` (:func:`scaling_fits`), one row per estimator:

- ``half_point``: :func:`hierphase.scaling.extrapolate_eps_star`, ``eps_half(L) = eps* +
  A d**(-1/nu)`` with ``nu`` free (four depths or more): ``eps*`` and ``nu``.
- ``width``: ``width = B d**(-1/nu)`` in log-log (:func:`hierphase.scaling.fit_power_law` of the
  width against ``d``, exponent ``1/nu``; ``nu_err`` by the delta method): ``nu``.
- ``half_point_width_nu``: the half points again, ``nu`` held at the width's (three depths or
  more; its error is not propagated into ``eps_star_err``).
- ``crossing``: the weighted mean of the crossings of consecutive depths, error scaled up by the
  reduced chi-square when the crossings scatter more than their errors (a drift): ``eps*``.
- ``half_point_corrected``: the half points again, ``eps_half(L) = eps* + A x (1 + B x)``,
  ``x = d**(-1/nu)``: the correction to scaling of the next order of the flow fitted, not
  absorbed into ``eps*`` and ``nu`` (:func:`hierphase.scaling.fit_with_correction`; five depths
  or more). On mean field's curves at L = 4..12 it gives ``eps*`` within 2e-5 and ``nu`` within
  0.01, where the plain half points give ``nu`` 0.04 low. (The same form on the widths is not
  used: there it moves ``nu`` away from mean field's exact value.)
- ``width_per_draw`` (exact BP, :func:`per_draw_width_fit`): the ``width`` fit on each rule
  draw's own curves, ``nu`` averaged over the draws. The other estimators read the curves with
  the draws pooled; a pooled curve mixes RHMs whose half points differ by more than their
  statistical errors, which widens it: this one is the exponent of a single RHM, and its error
  includes the spread between RHMs.

Mean-field rows (``model == "mean_field"``, epsilon-process only) come from
:func:`hierphase.theory.class_reconstruction` on the same noise grid and depths as the measured
ones and go through the same estimators, unweighted: they show what the estimators give when the
mean-field form is exact, including the bias of a linear interpolation on a coarse grid (at
0.05 spacing the crossings of curves steeper than the grid drift towards the bracket's middle).
Under the masking process the noise is ``t/T`` and there is no mean-field value: the target is
the process's own ``t*``, the ``half_point`` (or ``crossing``) extrapolation itself.

The collapse (:func:`collapse_curves`): the class kept against ``(eps - eps*) d**(1/nu)``, one
curve per depth, scored with :func:`hierphase.scaling.collapse_quality` on linear axes.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import NormalDist
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .scaling import (CollapseQuality, collapse_quality, extrapolate_eps_star, fit_power_law,
                      fit_with_correction, level_crossing, level_crossings)
from .tables import SCALING_POINT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ESTIMATORS",
    "PER_DRAW_ESTIMATOR",
    "Curve",
    "normalised_kept",
    "curve_points",
    "scaling_fits",
    "per_draw_width_fit",
    "collapse_curves",
    "check_plan",
]

#: The estimators of :func:`scaling_fits`, in the order of their rows.
ESTIMATORS = ("half_point", "width", "half_point_width_nu", "crossing", "half_point_corrected")
#: The estimator of :func:`per_draw_width_fit` (exact BP only: mean field has no rule draws).
PER_DRAW_ESTIMATOR = "width_per_draw"

_Z95 = NormalDist().inv_cdf(0.975)


class Curve(NamedTuple):
    """One depth's class curve: noise values, class kept and its standard errors (None: exact)."""

    noise: np.ndarray
    kept: np.ndarray
    sigma: np.ndarray | None = None


def normalised_kept(kept, n_classes: int):
    """``(kept - 1/n_classes) / (1 - 1/n_classes)``: 1 when the class is always kept, 0 at chance."""
    if not n_classes >= 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes!r}")
    return (np.asarray(kept, dtype=float) - 1.0 / n_classes) / (1.0 - 1.0 / n_classes)


def _width(curve: Curve, n_classes: int) -> tuple[float, float, float, float]:
    """(noise at y = 0.9, noise at y = 0.1, width, its error) on the normalised curve."""
    y = normalised_kept(curve.kept, n_classes)
    sigma = None if curve.sigma is None else curve.sigma / (1.0 - 1.0 / n_classes)
    hi, hi_err = level_crossing(curve.noise, y, 0.9, sigma)
    lo, lo_err = level_crossing(curve.noise, y, 0.1, sigma)
    return hi, lo, lo - hi, float(np.hypot(hi_err, lo_err))


def _crossing(shallow: Curve, deep: Curve, near: float) -> tuple[float, float]:
    """Where ``deep`` falls from above ``shallow`` to below it (on their common noise values,
    leaving out those where the two are equal), the crossing nearest ``near`` when there are
    several (the first when ``near`` is NaN)."""
    common, i, j = np.intersect1d(shallow.noise, deep.noise, return_indices=True)
    diff = deep.kept[j] - shallow.kept[i]
    sigma = (None if shallow.sigma is None or deep.sigma is None
             else np.hypot(shallow.sigma[i], deep.sigma[j]))
    # where the curves are identical (no noise: both 1; full noise: both at chance) they touch,
    # they do not cross
    apart = diff != 0
    common, diff = common[apart], diff[apart]
    sigma = None if sigma is None else sigma[apart]
    found = level_crossings(common, diff, 0.0, sigma, direction="down")
    if not found:
        return np.nan, np.nan
    if np.isfinite(near):
        return min(found, key=lambda c: abs(c[0] - near))
    return found[0]


def curve_points(curves: Mapping[int, Curve], n_classes: int, **keys) -> pd.DataFrame:
    """:data:`hierphase.tables.SCALING_POINT_COLUMNS` for the class curves of several depths (``{L: Curve}``); ``keys``
    (experiment, process, model) fill those columns. The half-point error is NaN for exact
    curves (``sigma`` None)."""
    import pandas as pd

    depths = sorted(int(L) for L in curves)
    rows = []
    for n, L in enumerate(depths):
        c = curves[L]
        half, half_err = level_crossing(c.noise, c.kept, 0.5, c.sigma)
        eps_90, eps_10, width, width_err = _width(c, n_classes)
        row = {**keys, "L": L, "eps_half": half, "eps_half_err": half_err, "eps_90": eps_90,
               "eps_10": eps_10, "width": width, "width_err": width_err, "next_L": np.nan,
               "crossing": np.nan, "crossing_err": np.nan}
        if n + 1 < len(depths):
            deeper = depths[n + 1]
            near = level_crossing(curves[deeper].noise, curves[deeper].kept, 0.5)[0]
            row["next_L"] = deeper
            row["crossing"], row["crossing_err"] = _crossing(c, curves[deeper], near)
        rows.append(row)
    out = pd.DataFrame(rows, columns=SCALING_POINT_COLUMNS)
    out["next_L"] = out["next_L"].astype("Int64")
    return out


def _errors(values: pd.Series) -> np.ndarray | None:
    """Standard errors usable as weights (all positive and finite), else None."""
    err = values.to_numpy(dtype=float)
    return err if err.size and np.isfinite(err).all() and (err > 0).all() else None


def _row(estimator, eps_star=np.nan, eps_star_err=np.nan, nu=np.nan, nu_err=np.nan,
         amplitude=np.nan, L_min=np.nan, L_max=np.nan, n_points=0):
    return {"estimator": estimator, "eps_star": eps_star, "eps_star_err": eps_star_err, "nu": nu,
            "nu_err": nu_err, "amplitude": amplitude, "L_min": L_min, "L_max": L_max,
            "n_points": n_points}


def scaling_fits(points: pd.DataFrame, *, s: int, L_min: int = 0,
                 L_max: int | None = None) -> list[dict]:
    """The fits of :data:`ESTIMATORS` (module docstring) over the depths of ``points``
    (:func:`curve_points` of one experiment, process and model) with ``L_min <= L <= L_max``
    (a crossing enters when both its depths do). One dict per estimator: ``estimator``,
    ``eps_star``, ``eps_star_err``, ``nu``, ``nu_err``, ``amplitude`` (``A`` of the half-point
    fits, ``B`` of the width's), ``L_min``, ``L_max``, ``n_points`` (the depths, or pairs of
    depths, that entered); NaN where a fit is impossible."""
    upper = np.inf if L_max is None else L_max
    p = points[(points["L"] >= L_min) & (points["L"] <= upper)]
    rows = []

    ok = p[np.isfinite(p["eps_half"])]
    half = extrapolate_eps_star(ok["L"], ok["eps_half"], _errors(ok["eps_half_err"]), s=s)
    rows.append(_row("half_point", half.eps_star, half.eps_star_err, half.nu, half.nu_err,
                     half.amplitude, half.L_min, half.L_max, half.n_points))

    width_row = _width_fit(p, s)
    nu, nu_err = width_row["nu"], width_row["nu_err"]
    rows.append(width_row)

    ok = p[np.isfinite(p["eps_half"])]
    if np.isfinite(nu) and len(ok) >= 3:
        held = extrapolate_eps_star(ok["L"], ok["eps_half"], _errors(ok["eps_half_err"]), s=s,
                                    nu=nu)
        rows.append(_row("half_point_width_nu", held.eps_star, held.eps_star_err, nu, nu_err,
                         held.amplitude, held.L_min, held.L_max, held.n_points))
    else:
        rows.append(_row("half_point_width_nu", nu=nu, nu_err=nu_err, n_points=len(ok)))

    ok = p[np.isfinite(p["crossing"]) & (p["next_L"].astype("Float64") <= upper).fillna(False)]
    rows.append(_crossing_mean(ok))

    ok = p[np.isfinite(p["eps_half"])]
    fit = fit_with_correction(ok["L"].to_numpy(dtype=float), ok["eps_half"].to_numpy(dtype=float),
                              _errors(ok["eps_half_err"]), s=s)
    used = np.isfinite(fit.nu)
    rows.append(_row("half_point_corrected", fit.offset, fit.offset_err, fit.nu, fit.nu_err,
                     fit.amplitude, ok["L"].min() if used else np.nan,
                     ok["L"].max() if used else np.nan, fit.n_points if used else 0))
    return rows


def _width_fit(p: pd.DataFrame, s: int) -> dict:
    """The ``width`` row: ``width = B d**(-1/nu)`` over the depths of ``p`` with a positive
    width, weighted by the widths' errors where every one is usable."""
    ok = p[np.isfinite(p["width"]) & (p["width"] > 0)]
    err = _errors(ok["width_err"])
    width = ok["width"].to_numpy(dtype=float)
    pl = fit_power_law(float(s) ** ok["L"].to_numpy(dtype=float), width,
                       None if err is None else width - _Z95 * err,
                       None if err is None else width + _Z95 * err, r_min=0)
    nu = 1.0 / pl.exponent if pl.exponent > 0 else np.nan
    nu_err = pl.err / pl.exponent**2 if np.isfinite(nu) else np.nan
    n = pl.n_points
    return _row("width", nu=nu, nu_err=nu_err, amplitude=pl.amplitude,
                L_min=ok["L"].min() if n else np.nan, L_max=ok["L"].max() if n else np.nan,
                n_points=n)


def per_draw_width_fit(points_by_draw: Mapping[int, pd.DataFrame], *, s: int, L_min: int = 0,
                       L_max: int | None = None) -> dict:
    """The ``width_per_draw`` row: the ``width`` fit of :func:`scaling_fits` done on each rule
    draw's own curves (``{rule_seed: curve_points of that draw alone}``, over ``L_min <= L <=
    L_max``), then ``nu`` averaged over the draws whose fit exists. Its error is the larger of
    the draws' own errors carried into the mean (``sqrt(sum err**2) / n``) and the standard
    error of the mean over the draws (the spread from one RHM to the next, which the pooled
    curve's fit does not see); with one draw, that draw's own fit and error. The
    pooled curve of RHMs whose half points differ is wider than any of them, so its ``width``
    gives a larger ``nu`` than each RHM's own; this row is the exponent of one RHM. ``amplitude``
    is the mean of the draws' ``B``; ``L_min``, ``L_max`` and ``n_points`` (depths) are those
    shared by every draw that entered."""
    upper = np.inf if L_max is None else L_max
    fits = []
    for _, p in sorted(points_by_draw.items()):
        row = _width_fit(p[(p["L"] >= L_min) & (p["L"] <= upper)], s)
        if np.isfinite(row["nu"]):
            fits.append(row)
    if not fits:
        return _row(PER_DRAW_ESTIMATOR)
    nus = np.array([f["nu"] for f in fits])
    # each draw's own error, carried into the mean, or the draws' spread, whichever is larger
    # (a standard error from a few draws is itself uncertain: from three it can be half the
    # true one)
    carried = float(np.sqrt(np.nansum([f["nu_err"] ** 2 for f in fits])) / len(fits))
    spread = float(np.std(nus, ddof=1) / np.sqrt(len(nus))) if len(nus) >= 2 else 0.0
    err = max(carried, spread)
    return _row(PER_DRAW_ESTIMATOR, nu=float(nus.mean()), nu_err=err,
                amplitude=float(np.mean([f["amplitude"] for f in fits])),
                L_min=max(f["L_min"] for f in fits), L_max=min(f["L_max"] for f in fits),
                n_points=min(f["n_points"] for f in fits))


def _crossing_mean(ok: pd.DataFrame) -> dict:
    """Weighted mean of the crossings (unweighted without errors), error from the weights scaled
    up by the reduced chi-square (or from the scatter when unweighted); two or more pairs."""
    n = len(ok)
    if n < 2:
        return _row("crossing", L_min=int(ok["L"].min()) if n else np.nan,
                    L_max=int(ok["next_L"].max()) if n else np.nan, n_points=n)
    x = ok["crossing"].to_numpy(dtype=float)
    err = _errors(ok["crossing_err"])
    w = np.ones(n) if err is None else err**-2
    mean = float(np.sum(w * x) / np.sum(w))
    chi2_red = float(np.sum(w * (x - mean) ** 2) / (n - 1))
    var = chi2_red / np.sum(w) if err is None else max(1.0, chi2_red) / np.sum(w)
    return _row("crossing", mean, float(np.sqrt(var)), L_min=int(ok["L"].min()),
                L_max=int(ok["next_L"].max()), n_points=n)


def collapse_curves(curves: Mapping[int, Curve], eps_star: float, nu: float, s: int,
                    ) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], CollapseQuality]:
    """``{L: (x, kept)}`` with ``x = (eps - eps*) (s**L)**(1/nu)``, and how well they collapse
    (:func:`hierphase.scaling.collapse_quality` on linear axes, weighted by the curves' errors
    when every curve has them). NaN ``eps_star`` or ``nu``: NaN abscissae, no score."""
    out = {}
    for L, c in curves.items():
        x = (np.asarray(c.noise, dtype=float) - eps_star) * (float(s) ** L) ** (1.0 / nu)
        out[int(L)] = (x, c.kept) if c.sigma is None else (x, c.kept, c.sigma)
    weighted = all(c.sigma is not None for c in curves.values())
    quality = collapse_quality([v if weighted else v[:2] for v in out.values()],
                               log_x=False, log_y=False)
    return {L: v[:2] for L, v in out.items()}, quality


_SKIP = (" To run without the finite-size analysis of this experiment, leave it out of "
         "rhm.finite_size_scaling.experiments ([] for none).")


def check_plan(experiments: Mapping[str, tuple], selected, processes, L_min: int,
               L_max: int | None) -> dict[str, list[int]]:
    """The depths each selected experiment fits, ``{name: [L, ...]}``, after checking the plan:
    ``experiments`` maps every experiment's name to ``(depths, processes swept)``. A ValueError
    whose message starts with the offending field (``experiments``, ``processes``, ``L_min``,
    ``L_max``) when a name is not an experiment, a process is not swept by it, ``L_max < L_min``,
    ``L_min`` exceeds its largest depth, or fewer than three depths fall in range (a fit needs
    one point more than its two parameters)."""
    if L_max is not None and L_max < L_min:
        raise ValueError(f"L_max = {L_max} is smaller than L_min = {L_min}.")
    plan = {}
    for name in selected:
        if name not in experiments:
            raise ValueError(f"experiments lists {name!r}, which is not an experiment "
                             f"(rhm.experiments has {sorted(experiments)}).")
        depths, swept = experiments[name]
        missing = [p for p in processes if p not in swept]
        if missing:
            raise ValueError(f"processes lists {missing}, which experiment {name!r} does not "
                             f"sweep (it sweeps {sorted(swept)}).{_SKIP}")
        if L_min > max(depths):
            raise ValueError(f"L_min = {L_min} is larger than the largest depth of experiment "
                             f"{name!r} (L = {sorted(depths)}).")
        upper = max(depths) if L_max is None else L_max
        inside = sorted(L for L in depths if L_min <= L <= upper)
        if len(inside) < 3:
            above = [L for L in depths if L >= L_min]
            field = "L_max" if L_max is not None and len(above) >= 3 else "L_min"
            raise ValueError(f"{field} leaves {len(inside)} depths {inside} of experiment "
                             f"{name!r} in [{L_min}, {upper}]; the fits need at least 3 (its "
                             f"depths: {sorted(depths)}).{_SKIP}")
        plan[name] = inside
    return plan
