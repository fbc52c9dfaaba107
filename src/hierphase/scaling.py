"""Critical scaling of change correlations: power laws, the exponent nu, data collapse.

Pure numpy; general enough for any curve (C(r) of the tree or a lattice, xi or chi against a
control parameter, the class curves of several depths).

Power law, :func:`fit_power_law`. ``C(r) ~ A r**-a`` is a straight line in log-log,
``log C = log A - a log r``, fitted by weighted least squares. A bootstrap interval
``[C_lo, C_hi]`` (at ``confidence``) gives the standard error of ``C`` as its width over
``2 z`` (``z`` the normal quantile, 1.96 at 95%), and that of ``log C`` by the delta method,
``sigma_log = sigma / C``. Points with ``C <= 0`` have no logarithm: they are left out and
counted (``n_nonpositive``), never clipped. The error of ``a`` is the least-squares one,
``sqrt(cov)``, with ``cov = (X^T W X)^-1`` multiplied by the reduced chi-square when that is
above 1 (the points scatter more than their error bars say: the model is only approximately a
power law over the range, or the intervals are too narrow), never shrunk below the error bars.
Where the points carry no interval (mean-field rows, ``C_lo = C_hi = C``) the fit is unweighted
and the error comes from the residual scatter alone (it is 0 for an exact power law).

Robust correlation length, :func:`collapse_lengths`. The second moment of C(r) is useless on a
tree: the number of pairs at tree distance k grows like ``s**k`` and ``r**2`` like ``s**(2k)``,
so the moment is dominated by the largest distances, where C sits at the noise floor. Instead
the length is read off the scaling form ``C(r) = B r**-a G(r / xi)`` itself, with the cutoff
``G(x) = exp(-x)`` and a free, non-universal amplitude ``B`` per noise (on the RHM tables
``C(1)`` changes tenfold across the grid at fixed ``a``): with ``a`` fitted at the chi peak
(:func:`fit_power_law`) or given, ``log(C r**a) = log B - r / xi`` is a straight line in
``r``, fitted by weighted least squares per noise, and ``xi = -1 / slope``. On the exact-BP
tables the exponential is what the data show: the local length from successive bins,
``(r_{k+1} - r_k) / log(y_k / y_{k+1})``, is the same within 10-20% along each curve. So the
``xi`` are the lengths that collapse ``C r**a / B`` on ``exp(-r / xi)``; a nonparametric
master curve was tried and is not identifiable here (a free amplitude and a free shift per
curve, three to ten bins a curve, a master that is flat over the decades of the critical
curves). Only bins from ``r_min`` up to the first one whose C is not significantly positive
(``C > significance * sigma``, sigma the interval's standard error) enter: beyond it C is at
the noise floor, and a later bin that passes is a fluctuation with a large lever arm. Fewer
than three bins: NaN. A slope that is not negative (no visible cutoff) gives ``xi = inf``; a
length beyond the largest distance ``r_max`` is flagged ``saturated``, a lower bound at best.
Errors: a parametric bootstrap, C redrawn in every bin as a normal with the interval's
standard error (bins treated as independent; they share x0), ``a`` refitted in each draw when
it was fitted, every length refitted; ``xi_lo`` and ``xi_hi`` are the percentiles at
``confidence``.

Per tree level, :func:`fit_per_level`. On a tree, C of two leaves depends only on the level
``k`` of their lowest common ancestor, and the natural distance of that level is the block size
``r = s**k``: a power law ``C ~ (s**k)**-a`` is a geometric decay ``C(k+1)/C(k) = s**-a``, a
straight line of ``log C`` against ``k log s``. The spatial convention ``r = s**k - 1`` (the index
distance of the farthest pair at tree distance ``k``) bends that line at small ``k``
(``log 1 = 0`` at ``k = 1`` for ``s = 2``), and a weighted fit, whose weights favour the small
``k`` where C is best measured, then reads a smaller ``a`` with a poor reduced chi-square.
:func:`level_exponents` fits ``a`` per level over every window ``[k_min, k_max]`` of the
significant levels at the chi peak, with the spatial fit and mean field (fitted the same way
on the same window at the same noise, and at infinite depth) beside it.

Correlation length exponent, :func:`fit_nu`. Near a critical noise ``eps*``,
``xi ~ A_pm |eps - eps*|**-nu`` with one exponent and an amplitude on each side. At finite
size ``xi`` cannot grow past the size of the system (on a depth-L tree the largest distance
is ``r_max = s**L - 1``): it saturates, and the points nearest ``eps*`` would flatten the
slope. So only points with ``xi_min <= xi <= max_fraction * r_max`` enter the fit (default
``max_fraction = 0.2``: finite-size scaling corrections are functions of ``xi / r_max`` and
are small when ``xi`` is a fifth of the largest distance; ``xi_min = 1``: below one lattice
spacing ``xi`` is dominated by the diagonal, not by the scaling form). The window is stated in
:attr:`NuFit.method`. The uncertainty comes two ways, and :attr:`NuFit.err` is the larger:
``err_fit`` from the weighted fit's covariance (the per-point bootstrap intervals, scaled up
by the reduced chi-square), and ``err_jackknife`` from leaving out one point at a time. The
points of one sweep share their x0 and trees, so their errors are correlated and the
covariance alone is too small; and the jackknife sees what no error bar shows, a slope that
depends on which points are in the window (curvature from corrections to scaling, leftover
saturation). Taking the larger is conservative against both.

Collapse, :func:`collapse_quality`. Curves ``(x, y)`` that should fall on one master curve
after rescaling (``x = r / xi``, ``y = C r**a`` for the correlations) are compared where they
overlap: each point of each curve against the other curves interpolated there (linearly in
log-log by default), the squared deviation from their mean, divided by the summed variances
when errors are given (Houdayer and Hartmann's S, about 1 for a collapse within errors) or
plain when not. Smaller is better; it is what one minimises over the exponents. Interpolating
between points far apart (the tree's distances double from one to the next) adds an error of
its own where the master curve bends, so there S stays above 1 even for the true exponents:
compare S between exponents, do not read it as a chi-square.

Finite-size scaling of a transition point, :func:`extrapolate_eps_star`. A curve measured at
depth ``L`` passes through a level at ``eps_half(L)`` (:func:`level_crossing`, its error from
the curve's interval through the local slope, :func:`half_point_error`); near a transition
``eps_half(L) = eps* + A d**(-1/nu)`` with ``d = s**L`` leaves, fitted with ``nu`` free (four
points or more) or held at a given value (two or more).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PowerLawFit",
    "NuFit",
    "CollapseQuality",
    "EXPONENT_COLUMNS",
    "fit_power_law",
    "weighted_least_squares",
    "fit_nu",
    "collapse_quality",
    "collapse_lengths",
    "COLLAPSE_LENGTH_COLUMNS",
    "collapse_length_table",
    "nu_fits",
    "pool_rule_seeds",
    "class_half_point",
    "level_crossing",
    "level_crossings",
    "half_point_error",
    "EpsStarFit",
    "extrapolate_eps_star",
    "CorrectedFit",
    "fit_with_correction",
    "leaves",
    "correlation_exponents",
    "fit_per_level",
    "significant_levels",
    "LEVEL_EXPONENT_COLUMNS",
    "level_exponents",
]

SIDES = ("both", "below", "above")
GROUP_KEYS = ["family", "experiment", "model", "process", "L"]


# ----------------------------------------------------------------------------- helpers
def _z(confidence: float) -> float:
    if not (isinstance(confidence, (float, int)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _vector(x, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).ravel()
    if n is not None and arr.shape != (n,):
        raise ValueError(f"{name} must have {n} values like the first argument, got {arr.shape[0]}")
    return arr


def _log_sigma(y, lo, hi, z: float) -> np.ndarray | None:
    """Standard error of log y from a (lo, hi) interval; None when no usable interval."""
    if lo is None or hi is None:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = (hi - lo) / (2 * z * y)
    if not (np.isfinite(sigma).all() and (sigma > 0).all()):
        return None
    return sigma


class _Line(NamedTuple):
    beta: np.ndarray  # coefficients
    cov: np.ndarray  # their covariance
    chi2_red: float


def weighted_least_squares(X: np.ndarray, y: np.ndarray, sigma: np.ndarray | None,
                           inflate: bool = True) -> _Line:
    """Least squares of y on the columns of X, weighted by 1/sigma**2 when given. Covariance
    from the weights, times max(1, reduced chi-square) with ``inflate`` (as every fit of this
    module does), or from the residuals when unweighted.

    Written here on purpose: the fits take any design matrix (correction-to-scaling terms, not
    only polynomials), and their errors are inflated when the points scatter more than their
    errors allow but never shrunk below them, which ``numpy.polyfit`` (polynomials, its own
    scaling) does not do; statsmodels' WLS is not a dependency."""
    n, p = X.shape
    w = np.ones(n) if sigma is None else 1.0 / sigma**2
    Xw = X * np.sqrt(w)[:, None]
    yw = y * np.sqrt(w)
    beta, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    resid = yw - Xw @ beta
    dof = n - p
    chi2_red = float(resid @ resid / dof) if dof > 0 else np.nan
    inv = np.linalg.pinv(Xw.T @ Xw)
    if sigma is None:
        scale = chi2_red
    elif not inflate:
        scale = 1.0
    else:
        scale = max(1.0, chi2_red) if np.isfinite(chi2_red) else 1.0
    return _Line(beta, inv * scale, chi2_red)


# ----------------------------------------------------------------------------- power law
class PowerLawFit(NamedTuple):
    """``C ~ amplitude * r**-exponent`` fitted over ``r_range``."""

    exponent: float  # a
    err: float  # standard error of a
    amplitude: float
    n_points: int  # points in the fit
    r_range: tuple[float, float]  # (smallest, largest) r fitted
    n_nonpositive: int  # points in [r_min, r_max] with C <= 0, left out
    weighted: bool  # by the intervals (False: none given, or zero width)
    chi2_red: float


def fit_power_law(r, C, C_lo=None, C_hi=None, *, r_min: float = 1, r_max: float | None = None,
                  confidence: float = 0.95) -> PowerLawFit:
    """Fit ``C ~ A r**-a`` in log-log over ``r_min <= r <= r_max`` (module docstring).

    ``C_lo``, ``C_hi``: the interval of ``C`` at ``confidence`` (the bootstrap of
    :mod:`hierphase.correlations`), used as weights when every fitted point has a positive
    width. NaN ``C`` are ignored; ``C <= 0`` are left out and counted. Fewer than two points:
    NaN exponent; exactly two, unweighted: NaN error.
    """
    r = _vector(r, "r")
    C = _vector(C, "C", len(r))
    lo = None if C_lo is None else _vector(C_lo, "C_lo", len(r))
    hi = None if C_hi is None else _vector(C_hi, "C_hi", len(r))
    z = _z(confidence)
    upper = np.inf if r_max is None else float(r_max)
    inside = np.isfinite(r) & np.isfinite(C) & (r >= r_min) & (r <= upper) & (r > 0)
    keep = inside & (C > 0)
    n_bad = int((inside & (C <= 0)).sum())
    n = int(keep.sum())
    nan = PowerLawFit(np.nan, np.nan, np.nan, n, (np.nan, np.nan), n_bad, False, np.nan)
    if n < 2 or np.unique(r[keep]).size < 2:
        return nan
    x, y = np.log(r[keep]), np.log(C[keep])
    sigma = _log_sigma(C[keep], None if lo is None else lo[keep],
                       None if hi is None else hi[keep], z)
    line = weighted_least_squares(np.column_stack([np.ones(n), x]), y, sigma)
    err = float(np.sqrt(line.cov[1, 1])) if np.isfinite(line.cov[1, 1]) else np.nan
    return PowerLawFit(exponent=float(-line.beta[1]), err=err, amplitude=float(np.exp(line.beta[0])),
                       n_points=n, r_range=(float(r[keep].min()), float(r[keep].max())),
                       n_nonpositive=n_bad, weighted=sigma is not None, chi2_red=line.chi2_red)


# ----------------------------------------------------------------------------- nu
class NuFit(NamedTuple):
    """``xi ~ A_pm |eps - eps*|**-nu`` fitted over ``delta_range`` of ``|eps - eps*|``."""

    nu: float
    err: float  # max(err_fit, err_jackknife)
    err_fit: float
    err_jackknife: float
    amplitude_below: float  # A_- (NaN when that side is not fitted)
    amplitude_above: float  # A_+
    n_points: int
    delta_range: tuple[float, float]
    method: str


def fit_nu(noise, xi, xi_lo, xi_hi, eps_star: float, *, r_max: float,
           side: str = "both", max_fraction: float = 0.2, xi_min: float = 1.0,
           delta_max: float | None = None, confidence: float = 0.95) -> NuFit:
    """Fit ``xi ~ A_pm |eps - eps*|**-nu`` in log-log (module docstring: window and errors).

    ``xi_lo``, ``xi_hi``: the interval of ``xi`` at ``confidence`` (weights, as in
    :func:`fit_power_law`), or None for an unweighted fit. ``r_max``: the largest distance in
    the system (``s**L - 1`` on a depth-L tree); points
    with ``xi > max_fraction * r_max`` (saturated) or ``xi < xi_min`` or
    ``|eps - eps*| > delta_max`` are left out, as are NaN ``xi`` and ``eps == eps*``.
    ``side``: ``"below"`` or ``"above"`` ``eps*`` alone, or ``"both"``, one slope with an
    amplitude per side (a side with fewer than two points is dropped). At least one point more
    than parameters is needed (three for one side, four for both), else NaN: a line through two
    points has no error to speak of.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if not (0 < max_fraction <= 1):
        raise ValueError(f"max_fraction must be in (0, 1], got {max_fraction!r}")
    if eps_star is None or not np.isfinite(eps_star):
        raise ValueError(f"eps_star must be a finite critical noise, got {eps_star!r}")
    if not (np.isfinite(r_max) and r_max > 0):
        raise ValueError(f"r_max must be a positive distance, got {r_max!r}")
    eps = _vector(noise, "noise")
    xi = _vector(xi, "xi", len(eps))
    lo = None if xi_lo is None else _vector(xi_lo, "xi_lo", len(eps))
    hi = None if xi_hi is None else _vector(xi_hi, "xi_hi", len(eps))
    z = _z(confidence)
    delta = np.abs(eps - eps_star)
    xi_top = max_fraction * float(r_max)
    keep = np.isfinite(xi) & np.isfinite(eps) & (delta > 0) & (xi >= xi_min) & (xi <= xi_top)
    if delta_max is not None:
        keep &= delta <= delta_max
    below = eps < eps_star
    sides = {"below": keep & below, "above": keep & ~below}
    if side != "both":
        sides = {side: sides[side]}
    sides = {k: m for k, m in sides.items() if m.sum() >= 2}
    window = (f"xi in [{xi_min:g}, {max_fraction:g} r_max = {xi_top:.4g}]"
              + ("" if delta_max is None else f", |eps - eps*| <= {delta_max:g}"))
    names = list(sides)
    method = (f"weighted least squares of log xi on log|eps - eps*|, "
              f"{'one slope, an amplitude per side' if len(names) == 2 else (names[0] if names else side)}; "
              f"window {window}; err = max(covariance, jackknife over points)")
    mask = np.zeros_like(keep)
    for m in sides.values():
        mask |= m
    n = int(mask.sum())
    if n < len(names) + 2 or not names:
        return NuFit(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, n, (np.nan, np.nan),
                     method + f"; too few points in the window ({n})")
    idx = np.flatnonzero(mask)
    X = np.column_stack([sides[k][idx].astype(float) for k in names] + [np.log(delta[idx])])
    y = np.log(xi[idx])
    sigma = _log_sigma(xi[idx], None if lo is None else lo[idx], None if hi is None else hi[idx], z)
    line = weighted_least_squares(X, y, sigma)
    nu = float(-line.beta[-1])
    err_fit = float(np.sqrt(line.cov[-1, -1])) if np.isfinite(line.cov[-1, -1]) else np.nan
    err_jack = _jackknife_slope(X, y, sigma)
    amp = {k: float(np.exp(line.beta[i])) for i, k in enumerate(names)}
    err = np.nanmax([err_fit, err_jack]) if np.isfinite([err_fit, err_jack]).any() else np.nan
    return NuFit(nu=nu, err=float(err), err_fit=err_fit, err_jackknife=err_jack,
                 amplitude_below=amp.get("below", np.nan), amplitude_above=amp.get("above", np.nan),
                 n_points=n, delta_range=(float(delta[idx].min()), float(delta[idx].max())),
                 method=method)


def _jackknife_slope(X: np.ndarray, y: np.ndarray, sigma: np.ndarray | None) -> float:
    """Jackknife standard error of the last coefficient, leaving out one point at a time
    (leave-outs that make the design singular are skipped); NaN with fewer than 3 usable."""
    n, p = X.shape
    slopes = []
    for i in range(n):
        keep = np.arange(n) != i
        Xi = X[keep]
        if Xi.shape[0] <= p - 1 or np.linalg.matrix_rank(Xi) < p:
            continue
        slopes.append(weighted_least_squares(
            Xi, y[keep], None if sigma is None else sigma[keep]).beta[-1])
    if len(slopes) < 3:
        return np.nan
    slopes = np.asarray(slopes)
    k = len(slopes)
    return float(np.sqrt((k - 1) / k * np.sum((slopes - slopes.mean()) ** 2)))


# ----------------------------------------------------------------------------- collapse
class CollapseQuality(NamedTuple):
    """Mean squared deviation of overlapping curves from their local mean (see module)."""

    score: float
    n_overlaps: int  # points compared
    weighted: bool


def collapse_quality(curves: Sequence, *, log_x: bool = True, log_y: bool = True) -> CollapseQuality:
    """How well rescaled curves fall on one another (module docstring).

    ``curves``: a sequence of ``(x, y)`` or ``(x, y, dy)`` (``dy`` the standard error of ``y``);
    non-finite points and, on log axes, non-positive ones are ignored. Each point of each curve
    is compared with the other curves that cover its ``x`` (interpolated linearly, in logs when
    ``log_x`` / ``log_y``). ``weighted`` when every curve has ``dy``. NaN when no two curves
    overlap.
    """
    prepared = []
    weighted = all(len(c) == 3 for c in curves)
    for i, c in enumerate(curves):
        if len(c) not in (2, 3):
            raise ValueError(f"curves[{i}] must be (x, y) or (x, y, dy), got {len(c)} arrays")
        x = _vector(c[0], f"curves[{i}].x")
        y = _vector(c[1], f"curves[{i}].y", len(x))
        dy = _vector(c[2], f"curves[{i}].dy", len(x)) if weighted else np.zeros_like(x)
        ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(dy)
        if log_x:
            ok &= x > 0
        if log_y:
            ok &= y > 0
        x, y, dy = x[ok], y[ok], dy[ok]
        if log_y:
            dy = dy / y
            y = np.log(y)
        if log_x:
            x = np.log(x)
        order = np.argsort(x)
        prepared.append((x[order], y[order], dy[order]))
    total, count = 0.0, 0
    for i, (x, y, dy) in enumerate(prepared):
        for j in range(len(x)):
            others, other_var = [], []
            for k, (xo, yo, dyo) in enumerate(prepared):
                if k == i or len(xo) < 2 or not (xo[0] <= x[j] <= xo[-1]):
                    continue
                others.append(np.interp(x[j], xo, yo))
                other_var.append(np.interp(x[j], xo, dyo) ** 2)
            if not others:
                continue
            mean = np.mean(others)
            dev2 = (y[j] - mean) ** 2
            if weighted:
                var = dy[j] ** 2 + np.sum(other_var) / len(others) ** 2
                if not var > 0:
                    continue
                dev2 /= var
            total += dev2
            count += 1
    if count == 0:
        return CollapseQuality(np.nan, 0, weighted)
    return CollapseQuality(total / count, count, weighted)


# ----------------------------------------------------------------------------- collapse lengths
COLLAPSE_LENGTH_COLUMNS = ["noise", "xi", "xi_lo", "xi_hi", "amplitude", "n_points", "saturated",
                           "a", "a_err"]

def _significant_curves(cor: pd.DataFrame, C: np.ndarray, a: float, r_min: float,
                        significance: float, z: float):
    """Per noise: (noise, log r, log(C r**a), sigma of that log or None) over the bins from
    ``r_min`` up to the first one that is not significantly positive (``C > significance *
    sigma``; NaN counts as not): beyond it C is at the noise floor, and a later bin that passes
    is a fluctuation with a large lever arm."""
    out = []
    r = cor["r"].to_numpy(dtype=float)
    sigma = (cor["C_hi"].to_numpy(dtype=float) - cor["C_lo"].to_numpy(dtype=float)) / (2 * z)
    noise = cor["noise"].to_numpy(dtype=float)
    for n in np.unique(noise):
        idx = np.flatnonzero((noise == n) & np.isfinite(r) & (r >= r_min) & (r > 0))
        idx = idx[np.argsort(r[idx])]
        with np.errstate(invalid="ignore"):
            good = np.isfinite(C[idx]) & (C[idx] > 0) & (C[idx] > significance * np.nan_to_num(sigma[idx]))
        idx = idx[np.logical_and.accumulate(good)] if idx.size else idx
        u = np.log(r[idx])
        v = np.log(C[idx] * r[idx] ** a)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = sigma[idx] / C[idx]
        if not (np.isfinite(w).all() and (w > 0).all()):
            w = None  # no usable intervals: unweighted
        out.append((n, u, v, w))
    return out


def _cutoff_fit(curves) -> tuple[np.ndarray, np.ndarray]:
    """(log xi, log B) per curve from ``log(C r**a) = log B - r / xi`` (weighted least squares
    on the significant bins); NaN with fewer than three bins, xi = +inf where the slope is not
    negative."""
    log_xi = np.full(len(curves), np.nan)
    log_b = np.full(len(curves), np.nan)
    for i, (_, u, v, w) in enumerate(curves):
        if len(u) < 3:
            continue
        line = weighted_least_squares(np.column_stack([np.ones(len(u)), np.exp(u)]), v, w)
        slope = line.beta[1]
        log_xi[i] = np.log(-1 / slope) if slope < 0 else np.inf
        log_b[i] = line.beta[0]
    return log_xi, log_b


def collapse_lengths(correlations: pd.DataFrame, *, a: float | None = None,
                     peak_noise: float | None = None, r_min: float = 1,
                     significance: float = 2.0, n_boot: int = 100, seed: int = 0,
                     confidence: float = 0.95) -> pd.DataFrame:
    """Correlation length per noise from the scaling form ``C = B r**-a exp(-r / xi)`` (module
    docstring: why not the second moment, which bins, the errors), for the rows of ONE curve family: one (family, experiment, model, process, L,
    level), one row per (noise, r) (pool rule draws first, :func:`pool_rule_seeds`).

    ``a``: the decay exponent; None fits it (:func:`fit_power_law`, ``r >= r_min``) at
    ``peak_noise`` (required then). ``significance``: bins from the first with ``C <= significance * sigma`` on
    are left out. ``n_boot`` parametric bootstrap draws with ``seed`` give ``xi_lo`` /
    ``xi_hi`` at ``confidence`` (0 draws: NaN intervals). Returns
    :data:`COLLAPSE_LENGTH_COLUMNS`, one row per noise, sorted; ``amplitude`` is B;
    ``n_points`` the bins fitted; ``saturated`` where
    ``xi > r_max`` (the largest r of the table): a lower bound only.
    """
    import pandas as pd

    _check_columns(correlations, ["noise", "r", "C", "C_lo", "C_hi"], "correlations")
    if a is None and peak_noise is None:
        raise ValueError("collapse_lengths needs the exponent a or the peak_noise to fit it at")
    z = _z(confidence)
    cor = correlations.sort_values(["noise", "r"]).reset_index(drop=True)
    C0 = cor["C"].to_numpy(dtype=float)
    sigma = (cor["C_hi"].to_numpy(dtype=float) - cor["C_lo"].to_numpy(dtype=float)) / (2 * z)
    at_peak = None
    if a is None:
        at_peak = np.isclose(cor["noise"].to_numpy(dtype=float), peak_noise, rtol=0, atol=1e-9)
        if not at_peak.any():
            raise ValueError(f"peak_noise {peak_noise!r} is not a noise of the table")

    def one(C: np.ndarray):
        if at_peak is None:
            a_, a_err = float(a), np.nan
        else:
            g = cor[at_peak]
            lo_hi = (C[at_peak] - z * sigma[at_peak], C[at_peak] + z * sigma[at_peak])
            pl = fit_power_law(g["r"], C[at_peak], *lo_hi, r_min=r_min, confidence=confidence)
            a_, a_err = pl.exponent, pl.err
        if not np.isfinite(a_):
            return None
        curves = _significant_curves(cor, C, a_, r_min, significance, z)
        log_xi, log_b = _cutoff_fit(curves)
        return [c[0] for c in curves], log_xi, log_b, np.array([len(c[1]) for c in curves]), a_, a_err

    base = one(C0)
    noises = np.unique(cor["noise"].to_numpy(dtype=float))
    if base is None:
        raise ValueError("no power-law exponent a: the fit at the peak had fewer than two points")
    _, log_xi, log_b, n_points, a_used, a_err = base
    draws = []
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        res = one(C0 + rng.standard_normal(C0.shape) * np.nan_to_num(sigma))
        if res is not None:
            draws.append(res[1])
    q = (1 - confidence) / 2
    if draws:
        D = np.exp(np.asarray(draws))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN interval
            lo = np.nanquantile(D, q, axis=0)
            hi = np.nanquantile(D, 1 - q, axis=0)
    else:
        lo = hi = np.full(len(noises), np.nan)
    xi = np.exp(log_xi)
    lo, hi = np.where(np.isnan(xi), np.nan, lo), np.where(np.isnan(xi), np.nan, hi)
    r_max = float(cor["r"].max())
    return pd.DataFrame({"noise": noises, "xi": xi, "xi_lo": np.fmin(lo, xi),
                         "xi_hi": np.fmax(hi, xi), "amplitude": np.exp(log_b),
                         "n_points": n_points.astype(int),
                         "saturated": ~np.isnan(xi) & (xi > r_max),
                         "a": a_used, "a_err": a_err}, columns=COLLAPSE_LENGTH_COLUMNS)



def collapse_length_table(correlations: pd.DataFrame, susceptibility: pd.DataFrame,
                          experiment: str, *, process: str = "epsilon", model: str = "bp",
                          a: float | None = None, r_min: float = 1, n_boot: int = 100,
                          seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """:func:`collapse_lengths` at the leaves of every L of one experiment, process and model
    (rule draws pooled), ``a`` fitted at each L's chi peak unless given. Columns ``L``,
    ``r_max``, ``peak_noise`` then :data:`COLLAPSE_LENGTH_COLUMNS`."""
    import pandas as pd

    pick = {"experiment": experiment, "process": process, "model": model}
    cor = leaves(correlations)
    sus = leaves(susceptibility)
    for col, value in pick.items():
        cor, sus = cor[cor[col] == value], sus[sus[col] == value]
    if cor.empty or sus.empty:
        raise ValueError(f"no leaf rows for {pick} in the "
                         + ("correlations" if cor.empty else "susceptibility") + " table")
    # a noise present in two shards is one measurement, not two draws
    cor = cor.drop_duplicates(GROUP_KEYS + ["rule_seed", "level", "noise", "distance"])
    sus = sus.drop_duplicates(GROUP_KEYS + ["rule_seed", "level", "noise"])
    cor = pool_rule_seeds(cor, GROUP_KEYS + ["level", "noise", "distance"], ["C"])
    sus = pool_rule_seeds(sus, GROUP_KEYS + ["level", "noise"], ["chi", "xi"])
    out = []
    for L, g in cor.groupby("L", sort=True, dropna=False):
        chi = sus[(sus["L"] == L) if pd.notna(L) else sus["L"].isna()]
        chi = chi[chi["chi"].notna()]
        if chi.empty:
            continue
        peak = float(chi.loc[chi["chi"].idxmax(), "noise"])
        t = collapse_lengths(g, a=a, peak_noise=peak, r_min=r_min, n_boot=n_boot, seed=seed,
                             confidence=confidence)
        t.insert(0, "peak_noise", peak)
        t.insert(0, "r_max", float(g["r"].max()))
        t.insert(0, "L", L)
        out.append(t)
    if not out:
        raise ValueError(f"no L with a finite chi for {pick}")
    return pd.concat(out, ignore_index=True)


def _window(t: pd.DataFrame, max_fraction: float, xi_min: float) -> pd.Series:
    return ~t["saturated"] & t["xi"].between(xi_min, max_fraction * t["r_max"])


def nu_fits(correlations: pd.DataFrame, susceptibility: pd.DataFrame, experiment: str,
            eps_star: float, *, lengths: pd.DataFrame | None = None, process: str = "epsilon",
            side: str = "both", max_fraction: float = 0.2, xi_min: float = 1.0,
            n_boot: int = 100, seed: int = 0, confidence: float = 0.95) -> dict:
    """``{L: NuFit}`` from the collapse lengths of every L (:func:`collapse_length_table`,
    or ``lengths`` when already computed), plus ``{None: NuFit}``, the joint fit over every L
    of the points inside each L's own window (``xi_min <= xi <= max_fraction * r_max(L)``,
    not saturated): one slope, an amplitude per side shared by all L (in that window xi does
    not depend on L). The form :func:`hierphase.plots.correlations.xi_scaling` draws."""
    import pandas as pd

    t = lengths if lengths is not None else collapse_length_table(
        correlations, susceptibility, experiment, process=process, n_boot=n_boot, seed=seed,
        confidence=confidence)
    fits = {}
    for L, g in t.groupby("L", sort=True, dropna=False):
        g = g[~g["saturated"]]
        if g.empty:  # every length of this depth saturated: nothing to fit
            continue
        fits[None if pd.isna(L) else int(L)] = fit_nu(
            g["noise"], g["xi"], g["xi_lo"], g["xi_hi"], eps_star, r_max=float(g["r_max"].max()),
            side=side, max_fraction=max_fraction, xi_min=xi_min, confidence=confidence)
    inside = t[_window(t, max_fraction, xi_min)]
    if inside["L"].nunique() > 1:
        joint = fit_nu(inside["noise"], inside["xi"], inside["xi_lo"], inside["xi_hi"], eps_star,
                       r_max=float(t["r_max"].max()), side=side, max_fraction=1.0, xi_min=xi_min,
                       confidence=confidence)
        fits[None] = joint._replace(method=joint.method.replace(
            "window xi in", f"all L, each L's window xi <= {max_fraction:g} r_max(L), then xi in"))
    return fits


# ----------------------------------------------------------------------------- tables
def pool_rule_seeds(df: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """One row per ``keys`` from the rows of several rule draws: each value the mean over draws,
    its ``<value>_lo`` / ``<value>_hi`` interval centred there with half-widths combined as for
    independent draws (root sum of squares over the number of draws); ``n_x0`` summed.
    A single draw comes back unchanged. ``dropna=False``: missing ``L`` is a key like any other.
    """
    df = df.copy()
    for v in values:
        df[f"_{v}_lo"] = df[v] - df[f"{v}_lo"]
        df[f"_{v}_hi"] = df[f"{v}_hi"] - df[v]
    agg = {v: (v, "mean") for v in values}
    for v in values:
        agg[f"_{v}_lo"] = (f"_{v}_lo", lambda s: float(np.sqrt(np.sum(s**2))) / len(s))
        agg[f"_{v}_hi"] = (f"_{v}_hi", lambda s: float(np.sqrt(np.sum(s**2))) / len(s))
    extra = [c for c in ("n_x0", "n_traj", "class_kept", "t_over_T", "r") if c in df and c not in keys]
    for c in extra:
        agg[c] = ((c, lambda s: s.sum(min_count=1)) if c == "n_x0"
                  else (c, "mean") if c == "class_kept" else (c, "first"))
    out = df.groupby(list(keys), sort=True, dropna=False).agg(**agg).reset_index()
    for v in values:
        out[f"{v}_lo"] = out[v] - out.pop(f"_{v}_lo")
        out[f"{v}_hi"] = out[v] + out.pop(f"_{v}_hi")
    return out


def level_crossing(x, y, level: float, sigma=None) -> tuple[float, float]:
    """Where the curve ``y(x)`` first passes through ``level`` (in increasing ``x``), linearly
    interpolated between the two grid points that bracket it, and the standard error of that
    ``x`` from the standard errors ``sigma`` of ``y`` (independent between points) through the
    local slope: with ``h`` the bracket's width, ``D = y[i+1] - y[i]`` and
    ``w = (level - y[i]) / D`` the crossing's place in it,
    ``err**2 = (h / D)**2 ((1 - w)**2 sigma[i]**2 + w**2 sigma[i+1]**2)`` (the delta method).
    ``(NaN, NaN)`` when it never crosses; the error is NaN without ``sigma``."""
    found = level_crossings(x, y, level, sigma)
    return found[0] if found else (np.nan, np.nan)


def level_crossings(x, y, level: float, sigma=None,
                    direction: str = "any") -> list[tuple[float, float]]:
    """Every passage of ``y(x)`` through ``level`` in increasing ``x``, each ``(x, err)`` as in
    :func:`level_crossing`; ``direction`` ``"down"`` keeps only those where ``y`` goes from
    above ``level`` to at or below it, ``"up"`` the reverse."""
    if direction not in ("any", "down", "up"):
        raise ValueError(f"direction must be 'any', 'down' or 'up', got {direction!r}")
    x = _vector(x, "x")
    y = _vector(y, "y", len(x))
    sig = np.full(len(x), np.nan) if sigma is None else _vector(sigma, "sigma", len(x))
    ok = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[ok], kind="mergesort")
    x, y, sig = x[ok][order], y[ok][order], sig[ok][order]
    found = []
    for i in range(len(x) - 1):
        if (y[i] - level) * (y[i + 1] - level) <= 0 and y[i] != y[i + 1]:
            if (direction == "down" and not y[i] > level) or (direction == "up" and not y[i] < level):
                continue
            h, step = x[i + 1] - x[i], y[i + 1] - y[i]
            w = (level - y[i]) / step
            err = abs(h / step) * np.sqrt((1 - w) ** 2 * sig[i] ** 2 + w**2 * sig[i + 1] ** 2)
            found.append((float(x[i] + w * h), float(err)))
    return found


def class_half_point(noise, class_kept) -> float:
    """Noise where the class kept first falls through 1/2, linearly interpolated between the
    grid points that bracket it; NaN when it never crosses (or no class)."""
    return level_crossing(noise, class_kept, 0.5)[0]


def half_point_error(noise, class_kept, ci_low, ci_high, *,
                     confidence: float = 0.95) -> tuple[float, float]:
    """``(eps_half, err)``: :func:`class_half_point` and its standard error from the kept
    curve's interval ``[ci_low, ci_high]`` at ``confidence`` (standard error of each point the
    interval's width over ``2 z``), propagated through the local slope of the bracket
    (:func:`level_crossing`). ``(NaN, NaN)`` when the curve never falls through 1/2."""
    z = _z(confidence)
    y = _vector(class_kept, "class_kept")
    sigma = (_vector(ci_high, "ci_high", len(y)) - _vector(ci_low, "ci_low", len(y))) / (2 * z)
    return level_crossing(noise, y, 0.5, sigma)


class EpsStarFit(NamedTuple):
    """``eps_half(L) = eps_star + amplitude * (s**L) ** (-1 / nu)`` fitted over ``L_min..L_max``
    (:func:`extrapolate_eps_star`)."""

    eps_star: float
    eps_star_err: float
    nu: float
    nu_err: float  # NaN when nu was held at a given value
    amplitude: float
    L_min: float  # smallest L fitted (NaN when no point)
    L_max: float
    n_points: int


def _check_base(s) -> None:
    if not (isinstance(s, (int, np.integer)) and s >= 2):
        raise ValueError(f"s must be an integer >= 2, got {s!r}")


def _depth_points(L, y, y_err, *, s, names: tuple[str, str], exponent: tuple[str, float | None],
                  positive: bool = False):
    """The points of a finite-size fit over depths ``L``, after the checks of its arguments
    (``s`` an int >= 2; ``exponent`` (name, value): positive and finite, or None; ``names``: of
    ``y`` and ``y_err``): the finite points (and only those with ``y > 0`` when ``positive``),
    and their standard errors when every one is positive and finite, else None (unweighted)."""
    _check_base(s)
    name, value = exponent
    if value is not None and not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite or None, got {value!r}")
    L = _vector(L, "L")
    y = _vector(y, names[0], len(L))
    err = None if y_err is None else _vector(y_err, names[1], len(L))
    ok = np.isfinite(L) & np.isfinite(y) & (y > 0 if positive else True)
    L, y = L[ok], y[ok]
    err = None if err is None else err[ok]
    sigma = err if err is not None and err.size and np.isfinite(err).all() and (err > 0).all() else None
    return L, y, sigma


def _profile_rate(L, y, sigma, log_s):
    """The decay rate ``k = 1/nu`` on a log grid that minimises the chi-square of the linear fit
    in (eps_star, amplitude) at fixed ``k``: a starting point for the nonlinear fit."""
    best, best_chi2 = np.nan, np.inf
    for k in np.geomspace(0.02, 5.0, 240):
        X = np.column_stack([np.ones(len(L)), np.exp(-k * log_s * L)])
        line = weighted_least_squares(X, y, sigma)
        w = 1.0 if sigma is None else 1.0 / sigma**2
        chi2 = float(np.sum(w * (y - X @ line.beta) ** 2))
        if chi2 < best_chi2:
            best, best_chi2 = k, chi2
    return best


def extrapolate_eps_star(L, eps_half, eps_half_err=None, *, s: int,
                         nu: float | None = None) -> EpsStarFit:
    """Fit ``eps_half(L) = eps_star + amplitude * d**(-1/nu)``, ``d = s**L`` the number of
    leaves: the finite-size form of a transition point (mean field: the half point of the class
    curve approaches ``eps*`` like ``F'(p*)**-L = d**(-1/nu)``).

    ``nu`` None: ``eps_star``, ``amplitude`` and ``nu`` fitted together by nonlinear least
    squares (:func:`scipy.optimize.curve_fit`, in the rate ``1/nu > 0``, started from a profile
    over a grid of rates), which needs four points or more (one more than parameters);
    ``nu`` given: held there, ``eps_star`` and ``amplitude`` by linear least squares, two points
    or more (``nu_err`` NaN: not fitted). Weighted by ``eps_half_err`` (standard errors) when
    every used point has a positive finite one, the covariance then scaled by the reduced
    chi-square when above 1 (as :func:`fit_power_law`); unweighted otherwise, errors from the
    residual scatter (NaN with no degree of freedom left). Non-finite points are left out.
    Too few points or a failed fit: NaN values (``n_points`` and the L range still say what
    was there), never an exception.
    """
    L, y, sigma = _depth_points(L, eps_half, eps_half_err, s=s, names=("eps_half", "eps_half_err"),
                                exponent=("nu", nu))
    n = len(L)
    L_min, L_max = (float(L.min()), float(L.max())) if n else (np.nan, np.nan)
    nan = EpsStarFit(np.nan, np.nan, np.nan if nu is None else float(nu), np.nan, np.nan,
                     L_min, L_max, n)
    log_s = float(np.log(s))
    if nu is not None:
        if n < 2 or np.unique(L).size < 2:
            return nan
        line = weighted_least_squares(np.column_stack([np.ones(n), np.exp(-log_s * L / nu)]),
                                      y, sigma)
        e_err = float(np.sqrt(line.cov[0, 0])) if np.isfinite(line.cov[0, 0]) else np.nan
        return EpsStarFit(float(line.beta[0]), e_err, float(nu), np.nan, float(line.beta[1]),
                          L_min, L_max, n)
    if n < 4 or np.unique(L).size < 4:
        return nan
    from scipy.optimize import curve_fit

    def model(L, e, A, k):
        return e + A * np.exp(-k * log_s * L)

    k0 = _profile_rate(L, y, sigma, log_s)
    X = np.column_stack([np.ones(n), np.exp(-k0 * log_s * L)])
    e0, A0 = weighted_least_squares(X, y, sigma).beta
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            beta, cov = curve_fit(model, L, y, p0=[e0, A0, k0], sigma=sigma,
                                  absolute_sigma=sigma is not None,
                                  bounds=([-np.inf, -np.inf, 1e-6], [np.inf, np.inf, np.inf]))
    except (RuntimeError, ValueError):
        return nan
    resid = (y - model(L, *beta)) / (1.0 if sigma is None else sigma)
    if sigma is not None and n > 3:  # never shrink below the error bars
        cov = cov * max(1.0, float(resid @ resid) / (n - 3))
    if not np.isfinite(cov).all():
        cov = np.full((3, 3), np.nan)
    e, A, k = (float(b) for b in beta)
    return EpsStarFit(e, float(np.sqrt(cov[0, 0])), 1.0 / k, float(np.sqrt(cov[2, 2])) / k**2,
                      A, L_min, L_max, n)


class CorrectedFit(NamedTuple):
    """``y(L) = offset + A x (1 + B x**(omega nu))``, ``x = (s**L)**(-1/nu)``
    (:func:`fit_with_correction`)."""

    offset: float  # eps* for half points; NaN for a width (no offset fitted)
    offset_err: float
    nu: float
    nu_err: float
    amplitude: float
    correction: float  # B
    correction_err: float
    omega: float  # the correction's exponent in d = s**L (held)
    chi2_dof: float
    n_points: int


def fit_with_correction(L, y, y_err=None, *, s: int, offset: bool = True,
                        omega: float | None = None) -> CorrectedFit:
    """Finite-size scaling with a correction-to-scaling term: the leading ``d**(-1/nu)``
    (``d = s**L``) of :func:`extrapolate_eps_star` (``offset`` True: a half point, ``eps*``
    fitted) or of the width (``offset`` False, ``y = A x``) times ``1 + B d**(-omega)``.
    ``omega`` None: ``1/nu`` (the next order of the linearised flow, ``x**2``), refitted with
    ``nu``; a number: held. Nonlinear least squares (:func:`scipy.optimize.curve_fit`) started
    from the uncorrected fit, weighted by ``y_err`` when every error is positive and finite
    (covariance scaled up by the reduced chi-square above 1), unweighted otherwise. One point
    more than parameters is needed (five with an offset, four without); else NaN."""
    L, y, sigma = _depth_points(L, y, y_err, s=s, names=("y", "y_err"), exponent=("omega", omega),
                                positive=not offset)
    n = len(L)
    n_par = 4 if offset else 3
    nan = CorrectedFit(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan,
                       np.nan if omega is None else float(omega), np.nan, n)
    if n < n_par + 1 or np.unique(L).size < n_par + 1:
        return nan
    from scipy.optimize import curve_fit

    log_s = float(np.log(s))

    def model(L, *p):
        e, A, k, B = (p if offset else (0.0, *p))
        x = np.exp(-k * log_s * L)
        corr = x if omega is None else np.exp(-omega * log_s * L)
        return e + A * x * (1 + B * corr)

    if offset:
        start = extrapolate_eps_star(L, y, sigma, s=s)
        p0 = [start.eps_star, start.amplitude, 1 / start.nu, 0.0]
    else:
        pl = fit_power_law(float(s) ** L, y, r_min=0)
        p0 = [pl.amplitude, pl.exponent, 0.0]
    if not np.isfinite(p0).all():
        return nan
    lower = [-np.inf, -np.inf, 1e-6, -np.inf] if offset else [-np.inf, 1e-6, -np.inf]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            beta, cov = curve_fit(model, L, y, p0=p0, sigma=sigma,
                                  absolute_sigma=sigma is not None,
                                  bounds=(lower, [np.inf] * len(p0)), maxfev=20000)
    except (RuntimeError, ValueError):
        return nan
    resid = (y - model(L, *beta)) / (1.0 if sigma is None else sigma)
    dof = n - len(beta)
    chi2 = float(resid @ resid) / dof if dof > 0 else np.nan
    if sigma is not None and np.isfinite(chi2):
        cov = cov * max(1.0, chi2)
    if not np.isfinite(cov).all():
        cov = np.full((len(beta), len(beta)), np.nan)
    e, A, k, B = (beta if offset else (np.nan, *beta))
    i = 2 if offset else 1
    e_err = float(np.sqrt(cov[0, 0])) if offset else np.nan
    return CorrectedFit(float(e), e_err, 1.0 / k, float(np.sqrt(cov[i, i])) / k**2, float(A),
                        float(B), float(np.sqrt(cov[i + 1, i + 1])),
                        float(k if omega is None else omega), chi2, n)


EXPONENT_COLUMNS = [
    "family", "experiment", "model", "process", "L", "level", "n_rule_seeds",
    "peak_noise", "peak_noise_lo", "peak_noise_hi", "chi_max", "chi_max_lo", "chi_max_hi",
    "a", "a_err", "a_chi2_dof", "a_k_max", "a_spatial", "a_spatial_err", "a_spatial_chi2_dof",
    "a_n_points", "a_n_nonpositive",
    "eps_star", "nu", "nu_err", "nu_err_fit", "nu_err_jackknife", "nu_n_points", "nu_method",
    "nu_mean_field", "class_half_noise",
]


def _per_experiment(value, experiment: str):
    if isinstance(value, Mapping):
        return value.get(experiment)
    return value


def _finite(x) -> float:
    return float(x) if x is not None and np.isfinite(x) else np.nan


def _headline_level_fit(at_peak: pd.DataFrame, confidence: float) -> dict:
    """``a`` of :func:`correlation_exponents`: :func:`fit_per_level` over the tree levels
    ``1..k_significant`` (:func:`significant_levels`); NaN on a lattice (no tree levels)."""
    nan = dict(a=np.nan, a_err=np.nan, a_chi2_dof=np.nan, a_k_max=np.nan)
    if at_peak.empty or at_peak["L"].isna().all() or not (at_peak["distance"] == 1).any():
        return nan
    at = at_peak.sort_values("distance")
    s = _tree_base(at)
    k = at["distance"].to_numpy(dtype=float)
    C, lo, hi = (at[c].to_numpy(dtype=float) for c in ("C", "C_lo", "C_hi"))
    exact = bool(np.all(lo == hi))  # theory rows: no intervals
    k_max = significant_levels(k, C, None if exact else lo, None if exact else hi,
                               confidence=confidence)
    if k_max is not None:  # the two levels under the root feel its prior (mean field bends too)
        k_max = min(k_max, int(at["L"].iloc[0]) - 2)
    if k_max is None or k_max < 2:
        return nan
    fit = fit_per_level(k, C, None if exact else lo, None if exact else hi, s=s, k_min=1,
                        k_max=k_max, confidence=confidence)
    return dict(a=fit.exponent, a_err=fit.err, a_chi2_dof=fit.chi2_red, a_k_max=k_max)


def correlation_exponents(susceptibility: pd.DataFrame, correlations: pd.DataFrame,
                          eps_star: float | Mapping[str, float | None] | None, *,
                          nu_mean_field: float | Mapping[str, float | None] | None = None,
                          r_min: float = 1, max_fraction: float = 0.2, xi_min: float = 1.0,
                          n_boot: int = 100, seed: int = 0,
                          confidence: float = 0.95) -> pd.DataFrame:
    """Per (family, experiment, model, process, L), at the leaves (``level == L``; the only
    level where ``L`` is missing, e.g. the Gaussian field): the susceptibility peak and the
    exponents (:data:`EXPONENT_COLUMNS`).

    - ``peak_noise``: the grid noise of the largest chi, bracketed by its grid neighbours
      (``peak_noise_lo``, ``peak_noise_hi``: the peak of a smooth curve through the points lies
      between them); ``chi_max`` and its interval at that noise.
    - ``a``: :func:`fit_per_level` of C at the peak noise over the tree levels ``k = 1`` to
      ``a_k_max``, the last of the significantly positive ones (:func:`significant_levels`)
      and at most ``L - 2`` (the ratio bends in the two levels under the root, in mean field
      as in exact BP: the class prior sits there),
      ``C ~ (s**k)**-a``, with ``a_chi2_dof`` its reduced chi-square (NaN on a lattice);
      ``a_spatial``: :func:`fit_power_law` of C(r) on the table's ``r`` (``s**k - 1`` on a tree,
      the distance on a lattice), ``r >= r_min``, every positive bin.
    - ``nu``: :func:`fit_nu` of the :func:`collapse_lengths` (``a`` fitted at the peak,
      ``n_boot`` bootstrap draws from ``seed``) against ``|eps - eps*|``, saturated lengths
      left out, measured rows of the epsilon process with a finite ``eps*`` only (NaN
      otherwise; mean-field rows have ``nu_mean_field``), ``r_max`` the
      largest distance of the group's table; ``nu_method`` says so. The table's second-moment
      ``xi`` is not used: on a tree it is dominated by the noise floor at the largest distances.
    - ``class_half_noise``: :func:`class_half_point` of ``class_kept`` (NaN without a class).

    ``eps_star`` and ``nu_mean_field`` (``theory.critical_noise`` and ``theory.nu`` of the
    experiment's RHM, the caller's to compute): a number, or a mapping experiment -> number or
    None. Several rule draws are pooled first (:func:`pool_rule_seeds`).
    """
    import pandas as pd

    _check_columns(susceptibility, ["family", "experiment", "model", "process", "L", "rule_seed",
                                    "noise", "level", "chi", "chi_lo", "chi_hi", "xi", "xi_lo",
                                    "xi_hi", "class_kept"], "susceptibility")
    _check_columns(correlations, ["family", "experiment", "model", "process", "L", "rule_seed",
                                  "noise", "level", "distance", "r", "C", "C_lo", "C_hi"],
                   "correlations")
    # a noise present in two shards is one measurement, not two draws
    sus = leaves(susceptibility).drop_duplicates(GROUP_KEYS + ["rule_seed", "level", "noise"])
    cor = leaves(correlations).drop_duplicates(GROUP_KEYS + ["rule_seed", "level", "noise",
                                                             "distance"])
    if sus.empty:
        raise ValueError("the susceptibility table has no leaf rows (level == L, or L missing)")
    raw = sus
    sus = pool_rule_seeds(sus, GROUP_KEYS + ["level", "noise"], ["chi", "xi"])
    cor = pool_rule_seeds(cor, GROUP_KEYS + ["level", "noise", "distance"], ["C"])
    rows = []
    for key, g in sus.groupby(GROUP_KEYS, sort=True, dropna=False):
        family, experiment, model, process, L = key
        g = g.sort_values("noise").reset_index(drop=True)
        row = dict(zip(GROUP_KEYS, key))
        row["level"] = g["level"].iloc[0]
        seeds = _select(raw, key, None)["rule_seed"]
        row["n_rule_seeds"] = int(seeds.nunique()) if seeds.notna().any() else pd.NA  # theory
        finite = g["chi"].notna()
        if finite.any():
            i = int(g.loc[finite, "chi"].idxmax())
            row.update(peak_noise=float(g.at[i, "noise"]),
                       peak_noise_lo=float(g.at[max(i - 1, 0), "noise"]),
                       peak_noise_hi=float(g.at[min(i + 1, len(g) - 1), "noise"]),
                       chi_max=float(g.at[i, "chi"]), chi_max_lo=float(g.at[i, "chi_lo"]),
                       chi_max_hi=float(g.at[i, "chi_hi"]))
            at_peak = _select(cor, key, row["peak_noise"])
            pl = fit_power_law(at_peak["r"], at_peak["C"], at_peak["C_lo"], at_peak["C_hi"],
                               r_min=r_min, confidence=confidence)
            row.update(a_spatial=pl.exponent, a_spatial_err=pl.err,
                       a_spatial_chi2_dof=pl.chi2_red, a_n_points=pl.n_points,
                       a_n_nonpositive=pl.n_nonpositive)
            row.update(_headline_level_fit(at_peak, confidence))
        else:
            row.update(peak_noise=np.nan, peak_noise_lo=np.nan, peak_noise_hi=np.nan,
                       chi_max=np.nan, chi_max_lo=np.nan, chi_max_hi=np.nan, a=np.nan,
                       a_err=np.nan, a_chi2_dof=np.nan, a_k_max=np.nan, a_spatial=np.nan,
                       a_spatial_err=np.nan, a_spatial_chi2_dof=np.nan, a_n_points=0,
                       a_n_nonpositive=0)
        star = _finite(_per_experiment(eps_star, experiment))
        row["eps_star"] = star
        row["nu_mean_field"] = _finite(_per_experiment(nu_mean_field, experiment))
        why = ("not the epsilon process" if process != "epsilon" else "no critical noise"
               if not np.isfinite(star) else "mean-field rows (nu_mean_field is their exponent; "
               "the length fit needs bootstrap intervals to know where C reaches its noise floor)"
               if model == "mean_field" else "")
        nu = NuFit(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 0, (np.nan, np.nan),
                   "not fitted: " + why)
        if not why:
            group_cor = _select(cor, key, None)
            r_max = float(group_cor["r"].max()) if not group_cor.empty else np.nan
            if np.isfinite(r_max) and r_max > 0 and np.isfinite(row["a"]):
                lengths = collapse_lengths(group_cor, peak_noise=row["peak_noise"], r_min=r_min,
                                           n_boot=n_boot, seed=seed, confidence=confidence)
                lengths = lengths[~lengths["saturated"]]
                nu = fit_nu(lengths["noise"], lengths["xi"], lengths["xi_lo"], lengths["xi_hi"],
                            star, r_max=r_max, max_fraction=max_fraction, xi_min=xi_min,
                            confidence=confidence)
                nu = nu._replace(method="collapse lengths C = B r^-a exp(-r/xi), a at the chi "
                                 "peak; " + nu.method)
        row.update(nu=nu.nu, nu_err=nu.err, nu_err_fit=nu.err_fit,
                   nu_err_jackknife=nu.err_jackknife, nu_n_points=nu.n_points,
                   nu_method=nu.method)
        row["class_half_noise"] = class_half_point(g["noise"], g["class_kept"])
        rows.append(row)
    out = pd.DataFrame(rows, columns=EXPONENT_COLUMNS)
    for c in ("L", "level", "n_rule_seeds", "a_k_max", "a_n_points", "a_n_nonpositive",
              "nu_n_points"):
        out[c] = out[c].astype("Int64")
    return out


def _tree_base(cor: pd.DataFrame) -> int:
    """The branching ``s`` of a tree correlation table, read off its bins: ``r = s**k - 1``."""
    one = cor[cor["distance"] == 1]
    if one.empty:
        raise ValueError("the correlations table has no tree distance 1: no branching to read")
    s = float(one["r"].iloc[0]) + 1
    if not (s >= 2 and float(s).is_integer()):
        raise ValueError(f"r at tree distance 1 is {s - 1!r}: not a tree table (r = s**k - 1)")
    return int(s)


def fit_per_level(k, C, C_lo=None, C_hi=None, *, s: int, k_min: int = 1,
                  k_max: int | None = None, confidence: float = 0.95) -> PowerLawFit:
    """Fit ``C ~ A (s**k)**-a`` over the tree levels ``k_min <= k <= k_max`` (module docstring,
    per tree level): :func:`fit_power_law` on ``r = s**k``, the same weights and errors;
    ``r_range`` is in ``s**k``."""
    _check_base(s)
    if k_max is not None and k_max < k_min:
        raise ValueError(f"k_max ({k_max}) must be >= k_min ({k_min})")
    k = _vector(k, "k")
    r = float(s) ** k
    return fit_power_law(r, C, C_lo, C_hi, r_min=float(s) ** k_min,
                         r_max=None if k_max is None else float(s) ** k_max,
                         confidence=confidence)


def significant_levels(k, C, C_lo=None, C_hi=None, *, k_min: int = 1, significance: float = 2.0,
                       confidence: float = 0.95) -> int | None:
    """The largest ``k`` such that every level ``k_min..k`` has C significantly positive
    (``C > significance * sigma``, sigma the interval's standard error; without intervals,
    ``C > 0``): beyond it C is at the noise floor. None when ``k_min`` itself is not."""
    k = _vector(k, "k")
    C = _vector(C, "C", len(k))
    z = _z(confidence)
    sigma = (np.zeros_like(C) if C_lo is None or C_hi is None
             else (_vector(C_hi, "C_hi", len(k)) - _vector(C_lo, "C_lo", len(k))) / (2 * z))
    last = None
    for kk in range(int(k_min), int(np.nanmax(k)) + 1 if len(k) else int(k_min)):
        at = k == kk
        if not at.any():
            break
        c, sg = C[at][0], sigma[at][0]
        if not (np.isfinite(c) and c > 0 and c > significance * np.nan_to_num(sg)):
            break
        last = kk
    return last


LEVEL_EXPONENT_COLUMNS = [
    "family", "experiment", "model", "process", "L", "level", "s", "n_rule_seeds", "peak_noise",
    "k_min", "k_max", "k_significant", "n_points", "a", "a_err", "chi2_dof",
    "a_spatial", "a_spatial_err", "chi2_dof_spatial", "a_mean_field", "a_mean_field_spatial",
    "a_mean_field_infinite",
]


def level_exponents(correlations: pd.DataFrame, susceptibility: pd.DataFrame, *,
                    a_infinite: float | Mapping[str, float | None] | None = None,
                    min_points: int = 3, significance: float = 2.0,
                    confidence: float = 0.95) -> pd.DataFrame:
    """The exponent ``a`` of C per tree level at the chi peak, against the fitted window
    (:data:`LEVEL_EXPONENT_COLUMNS`, module docstring).

    For each measured group (``model != "mean_field"``, leaves, rule draws pooled) with a tree
    (``distance`` is the tree distance ``k``, ``r = s**k - 1``): at ``peak_noise``, the grid
    noise of its largest chi, one row per window ``[k_min, k_max]`` with
    ``1 <= k_min``, ``k_max - k_min + 1 >= min_points`` and ``k_max <= k_significant``
    (:func:`significant_levels`). ``a``, ``a_err``, ``chi2_dof``: :func:`fit_per_level`
    (``r = s**k``), weighted by the bootstrap intervals; ``a_spatial*``: the same window on
    ``r = s**k - 1`` (where ``s**k - 1 >= 1``); ``a_mean_field``: the mean-field rows of the
    same experiment and ``L`` at the same noise fitted per level on the same window
    (``a_mean_field_spatial`` on ``s**k - 1``; NaN where the table has no such rows);
    ``a_mean_field_infinite``: ``a_infinite`` of the experiment
    (:func:`hierphase.theory.correlation_exponent`, the caller's to compute).
    """
    import pandas as pd

    _check_columns(susceptibility, ["family", "experiment", "model", "process", "L", "rule_seed",
                                    "noise", "level", "chi", "chi_lo", "chi_hi"], "susceptibility")
    _check_columns(correlations, ["family", "experiment", "model", "process", "L", "rule_seed",
                                  "noise", "level", "distance", "r", "C", "C_lo", "C_hi"],
                   "correlations")
    if not (isinstance(min_points, (int, np.integer)) and min_points >= 2):
        raise ValueError(f"min_points must be an integer >= 2, got {min_points!r}")
    sus = leaves(susceptibility)
    sus = sus[(sus["model"] != "mean_field") & sus["L"].notna()]
    sus = sus.drop_duplicates(GROUP_KEYS + ["rule_seed", "level", "noise"])
    cor_all = leaves(correlations).drop_duplicates(GROUP_KEYS + ["rule_seed", "level", "noise",
                                                                 "distance"])
    cor = pool_rule_seeds(cor_all[cor_all["model"] != "mean_field"],
                          GROUP_KEYS + ["level", "noise", "distance"], ["C"])
    mf = cor_all[cor_all["model"] == "mean_field"]
    pooled = pool_rule_seeds(sus, GROUP_KEYS + ["level", "noise"], ["chi"])
    rows = []
    for key, g in pooled.groupby(GROUP_KEYS, sort=True, dropna=False):
        g = g[g["chi"].notna()]
        if g.empty:
            continue
        peak = float(g.loc[g["chi"].idxmax(), "noise"])
        at = _select(cor, key, peak).sort_values("distance")
        if at.empty:
            continue
        s = _tree_base(at)
        k = at["distance"].to_numpy(dtype=float)
        C, lo, hi = (at[c].to_numpy(dtype=float) for c in ("C", "C_lo", "C_hi"))
        k_sig = significant_levels(k, C, lo, hi, significance=significance, confidence=confidence)
        mf_key = (key[0], key[1], "mean_field", key[3], key[4])
        mf_at = _select(mf, mf_key, peak).sort_values("distance")
        seeds = _select(sus, key, None)["rule_seed"]
        base = dict(zip(GROUP_KEYS, key), level=int(key[4]), s=s,
                    n_rule_seeds=int(seeds.nunique()), peak_noise=peak,
                    k_significant=np.nan if k_sig is None else k_sig,
                    a_mean_field_infinite=_finite(_per_experiment(a_infinite, key[1])))
        if k_sig is None:
            continue
        for k_min in range(1, k_sig + 1):
            for k_max in range(k_min + min_points - 1, k_sig + 1):
                per = fit_per_level(k, C, lo, hi, s=s, k_min=k_min, k_max=k_max,
                                    confidence=confidence)
                spatial = fit_power_law(s**k - 1, C, lo, hi, r_min=max(1, s**k_min - 1),
                                        r_max=s**k_max - 1, confidence=confidence)
                row = dict(base, k_min=k_min, k_max=k_max, n_points=per.n_points,
                           a=per.exponent, a_err=per.err, chi2_dof=per.chi2_red,
                           a_spatial=spatial.exponent, a_spatial_err=spatial.err,
                           chi2_dof_spatial=spatial.chi2_red, a_mean_field=np.nan,
                           a_mean_field_spatial=np.nan)
                if not mf_at.empty:
                    km = mf_at["distance"].to_numpy(dtype=float)
                    Cm = mf_at["C"].to_numpy(dtype=float)
                    row["a_mean_field"] = fit_per_level(km, Cm, s=s, k_min=k_min,
                                                        k_max=k_max).exponent
                    row["a_mean_field_spatial"] = fit_power_law(
                        s**km - 1, Cm, r_min=max(1, s**k_min - 1), r_max=s**k_max - 1).exponent
                rows.append(row)
    out = pd.DataFrame(rows, columns=LEVEL_EXPONENT_COLUMNS)
    for c in ("L", "level", "s", "n_rule_seeds", "k_min", "k_max", "k_significant", "n_points"):
        out[c] = out[c].astype("Int64")
    return out


def _check_columns(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"the {name} table lacks the columns {missing}")


def leaves(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the leaves: ``level == L``, or every row where ``L`` is missing (a lattice
    has one level)."""
    L = df["L"].astype("Float64")
    level = df["level"].astype("Float64")
    mask = (L.isna() | (level == L)).fillna(False).astype(bool)
    return df[mask]


def _select(cor: pd.DataFrame, key: tuple, noise: float | None) -> pd.DataFrame:
    """Rows of one (family, experiment, model, process, L) group, at one noise if given."""
    import pandas as pd

    mask = np.ones(len(cor), dtype=bool)
    for col, value in zip(GROUP_KEYS, key):
        column = cor[col]
        mask &= (column.isna().to_numpy() if pd.isna(value)
                 else (column == value).fillna(False).to_numpy(dtype=bool))
    if noise is not None:
        mask &= np.isclose(cor["noise"].to_numpy(dtype=float), noise, rtol=0, atol=1e-9)
    out = cor[mask]
    return out.sort_values("r") if "r" in out else out
