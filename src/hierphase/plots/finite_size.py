"""Figures of the finite-size scaling of the class curve (:mod:`hierphase.finite_size`).

:func:`collapse`: the class kept against ``(eps - eps*) d**(1/nu)``, exact BP as points (one
colour per depth), mean field as lines. :func:`extrapolation`: the half points and crossings
against ``d = s**L`` with the ``eps*`` extrapolation, and the 90-10% width with its
``d**(-1/nu)`` fit. Both read the ``scaling`` table and return a Figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import theory
from ..finite_size import Curve, collapse_curves
from ..pooling import class_curves
from .style import depth_palette, use_style  # selects the Agg backend before pyplot loads

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

__all__ = ["collapse", "extrapolation", "measured_critical_point"]

_NOISE = {"epsilon": r"\varepsilon", "gaussian": "t/T", "masking": "t/T", "uniform": "t/T"}
_STAR = {"epsilon": r"\varepsilon^*", "gaussian": "t^*", "masking": "t^*", "uniform": "t^*"}


def _fit(scaling: pd.DataFrame, process: str, model: str, estimator: str) -> pd.Series | None:
    rows = scaling[(scaling["process"] == process) & (scaling["model"] == model)
                   & (scaling["estimator"] == estimator)]
    return None if rows.empty else rows.iloc[0]


def measured_critical_point(scaling: pd.DataFrame, process: str,
                            model: str = "bp") -> tuple[float, float, str]:
    """``(eps*, nu, what)`` measured for one process: ``eps*`` from the half-point
    extrapolation, or where that fit failed (or left the noise range [0, 1]) the other estimate
    with the smaller error (``half_point_width_nu`` or ``crossing``), ``nu`` from the width;
    ``what`` names them."""
    width = _fit(scaling, process, model, "width")
    nu = float(width["nu"]) if width is not None else np.nan
    found = [(row["eps_star_err"], float(row["eps_star"]), estimator)
             for estimator in ("half_point", "half_point_width_nu", "crossing")
             if (row := _fit(scaling, process, model, estimator)) is not None
             and 0.0 <= row["eps_star"] <= 1.0]
    if not found:
        return np.nan, nu, "no fit"
    if found[0][2] == "half_point":
        return found[0][1], nu, "half points"
    _, eps, estimator = min(found, key=lambda f: f[0] if np.isfinite(f[0]) else np.inf)
    return eps, nu, estimator.replace("_", " ")


def _fit_depths(scaling: pd.DataFrame, process: str) -> list[int]:
    row = _fit(scaling, process, "bp", "width")
    return [] if row is None or pd.isna(row["L_min"]) else list(range(int(row["L_min"]),
                                                                     int(row["L_max"]) + 1))


def _collapse_panel(ax, curves: dict, eps_star: float, nu: float, s: int, colors: dict,
                    mean_field: dict | None = None) -> float:
    """BP points (kept_marginal with its error) against the scaling variable, mean-field lines
    when given; returns the collapse score S of the BP points."""
    scaled, quality = collapse_curves(curves, eps_star, nu, s)
    for L, (x, y) in scaled.items():
        ax.errorbar(x, y, yerr=curves[L].sigma, fmt="o", ms=3.5, color=colors[L], elinewidth=0.7,
                    capsize=1.2, lw=0)
    if mean_field is not None:
        for L, c in mean_field.items():
            ax.plot((c.noise - eps_star) * (float(s) ** L) ** (1 / nu), c.kept, color=colors[L],
                    lw=1.1, ls="--")
    return quality.score


def collapse(kept: pd.DataFrame, scaling: pd.DataFrame, *, v: int, m: int, s: int,
             n_classes: int, processes: Sequence[str], points: int = 801):
    """The collapse figure: for the epsilon-process, BP and mean field against
    ``(eps - eps*) d**(1/nu)`` with the mean-field ``eps*`` and ``nu`` (left), then for every
    process BP alone with its own measured ``eps*`` and ``nu`` (:func:`measured_critical_point`).
    Depths in the fit range only; the collapse score S (:func:`hierphase.scaling.collapse_quality`,
    about 1 for a collapse within errors) in each title."""
    use_style()
    eps_mf, nu_mf = theory.critical_noise(v, m, s), theory.nu(v, m, s)
    panels = []
    if "epsilon" in processes and eps_mf is not None:
        panels.append(("epsilon", eps_mf, nu_mf, "mean-field"))
    for process in processes:
        eps, nu, what = measured_critical_point(scaling, process)
        panels.append((process, eps, nu, f"BP ({what}, width)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.0), squeeze=False)
    for ax, (process, eps, nu, what) in zip(axes[0], panels):
        depths = _fit_depths(scaling, process)
        curves = {L: c for L, c in class_curves(kept, process).items() if L in depths}
        colors = dict(zip(depths, depth_palette(len(depths))))
        noise, star = _NOISE[process], _STAR[process]
        ax.set(xlabel=rf"$({noise} - {star})\, d^{{1/\nu}}$", ylabel="P(class kept)",
               ylim=(-0.02, 1.05))
        ax.axhline(1.0 / n_classes, color="0.6", lw=0.8, ls=":")
        if not (np.isfinite(eps) and np.isfinite(nu) and nu > 0 and curves):
            ax.set_title(f"{process}: no {what} fit", fontsize=9)
            continue
        mean_field = None
        if what == "mean-field":
            grid = np.linspace(0.0, 1.0, points)
            mean_field = {L: Curve(grid, theory.class_reconstruction(grid, v, m, s, L,
                                                                     n_classes=n_classes))
                          for L in curves}
        score = _collapse_panel(ax, curves, eps, nu, s, colors, mean_field)
        shallow = min(curves)
        lo, hi = ((curves[shallow].noise[[0, -1]] - eps) * (float(s) ** shallow) ** (1 / nu))
        ax.set_xlim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        ax.axvline(0.0, color="crimson", lw=0.9, ls="--")
        ax.set_title(f"{process}, {what}: ${star}$ = {eps:.4f}, $\\nu$ = {nu:.2f}\n"
                     f"BP collapse S = {score:.2f}", fontsize=9)
        handles = [Line2D([], [], color=colors[L], marker="o", ms=4, lw=0, label=f"L = {L}")
                   for L in depths]
        if mean_field is not None:
            handles.append(Line2D([], [], color="0.3", ls="--", label="mean field"))
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    fig.suptitle(f"Finite-size scaling of the class curve, RHM v={v} m={m} s={s}", fontsize=10)
    fig.tight_layout()
    return fig


def _d(L, s):
    return np.asarray(L, dtype=float) * np.log2(s)  # log2 d


def extrapolation(points: pd.DataFrame, scaling: pd.DataFrame, *, v: int, m: int, s: int,
                  processes: Sequence[str]):
    """One row per process: (left) the half points ``eps_half(L)`` and the crossings of
    consecutive depths (placed at ``d = s**(L + 1/2)``) against ``d = s**L``, BP with errors,
    mean field (same grid) open, the half-point fit ``eps* + A d**(-1/nu)`` over its range and
    ``eps*`` with its error band; (right) the 90-10% width against ``d`` in log-log with its
    ``B d**(-1/nu)`` fit, and the mean-field slope ``-1/nu`` for reference."""
    use_style()
    nu_mf = theory.nu(v, m, s)
    fig, axes = plt.subplots(len(processes), 2, figsize=(10.0, 3.8 * len(processes)),
                             squeeze=False)
    styles = {"bp": dict(color="k", mfc="k"), "mean_field": dict(color="crimson", mfc="none")}
    for (left, right), process in zip(axes, processes):
        star = _STAR[process]
        for model, style in styles.items():
            p = points[(points["process"] == process) & (points["model"] == model)]
            if p.empty:
                continue
            label = "exact BP" if model == "bp" else "mean field (same grid)"
            left.errorbar(_d(p["L"], s), p["eps_half"], yerr=p["eps_half_err"], fmt="o", ms=5,
                          capsize=2, lw=0, elinewidth=0.8, label=f"{label}: half point", **style)
            c = p[p["next_L"].notna()]
            left.errorbar(_d((c["L"] + c["next_L"].astype(float)) / 2, s), c["crossing"],
                          yerr=c["crossing_err"], fmt="^", ms=5, capsize=2, lw=0, elinewidth=0.8,
                          label=f"{label}: crossing of L, next L", **style, alpha=0.7)
            right.errorbar(_d(p["L"], s), p["width"], yerr=p["width_err"], fmt="o", ms=5,
                           capsize=2, lw=0, elinewidth=0.8, label=label, **style)
            half, width = (_fit(scaling, process, model, e) for e in ("half_point", "width"))
            if half is not None and np.isfinite(half["eps_star"]):
                L = np.linspace(half["L_min"], half["L_max"] + 2, 100)
                left.plot(_d(L, s), half["eps_star"] + half["amplitude"] * (float(s) ** L) **
                          (-1 / half["nu"]), color=style["color"], lw=1, alpha=0.8)
                if model == "bp":
                    left.axhspan(half["eps_star"] - half["eps_star_err"],
                                 half["eps_star"] + half["eps_star_err"], color="0.5", alpha=0.25,
                                 lw=0, label=rf"BP ${star}$ = {half['eps_star']:.4f} "
                                             rf"$\pm$ {half['eps_star_err']:.4f}")
            if width is not None and np.isfinite(width["nu"]):
                L = np.linspace(width["L_min"], width["L_max"], 50)
                right.plot(_d(L, s), width["amplitude"] * (float(s) ** L) ** (-1 / width["nu"]),
                           color=style["color"], lw=1,
                           label=rf"fit: $\nu$ = {width['nu']:.2f} $\pm$ {width['nu_err']:.2f}")
        eps_mf = _fit(scaling, process, "bp", "half_point")
        if eps_mf is not None and np.isfinite(eps_mf["eps_star_mean_field"]):
            left.axhline(eps_mf["eps_star_mean_field"], color="crimson", ls="--", lw=0.9,
                         label=rf"mean-field ${star}$ = {eps_mf['eps_star_mean_field']:.4f}")
        p = points[(points["process"] == process) & (points["model"] == "bp")]
        if nu_mf is not None and not p.empty and process == "epsilon":
            last = p.iloc[-1]
            L = np.linspace(p["L"].min(), p["L"].max(), 50)
            right.plot(_d(L, s), last["width"] * (float(s) ** (L - last["L"])) ** (-1 / nu_mf),
                       color="0.5", ls=":", lw=1.2,
                       label=rf"slope $-1/\nu$, mean-field $\nu$ = {nu_mf:.3f}")
        shown = points.loc[points["process"] == process, ["eps_half", "crossing"]].stack()
        shown = shown[np.isfinite(shown.astype(float))].astype(float)
        if not shown.empty:  # the values, not an error bar that spans the whole noise range
            span = max(float(shown.max() - shown.min()), 0.02)
            left.set_ylim(shown.min() - 0.3 * span, shown.max() + 0.3 * span)
        right.set_yscale("log")
        for ax in (left, right):
            ax.set_xlabel(r"$\log_2 d$  ($d = s^L$ leaves)")
            ax.legend(fontsize=7, loc="best")
        left.set_ylabel(rf"${_NOISE[process]}$ ({process})")
        left.set_title(rf"{process}: half points and crossings $\to {star}$", fontsize=9)
        right.set_ylabel("90-10% width")
        right.set_title(rf"{process}: width $\sim d^{{-1/\nu}}$", fontsize=9)
    fig.tight_layout()
    return fig
