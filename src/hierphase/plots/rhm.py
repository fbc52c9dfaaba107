"""Figures of the RHM branch (exact BP and mean-field theory), one function per figure.

Each function takes tidy tables (the kept table of :mod:`hierphase.stages.rhm`, pooled over
rule draws here, and the mean-field tables) and returns a matplotlib Figure; saving is
:func:`hierphase.plots.style.save_figure`'s job.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..pooling import pool_rule_seeds
from ..theory import F
from .style import depth_palette, use_style  # selects the Agg backend before pyplot loads

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

__all__ = ["class_vs_eps", "levels_vs_eps", "time_views", "cobweb"]

_PROCESS_LABEL = {"gaussian": "Gaussian DDPM", "masking": "masking", "uniform": "uniform tokens"}


def _rows(kept: pd.DataFrame, process: str) -> pd.DataFrame:
    df = pool_rule_seeds(kept[kept["process"] == process])
    if df.empty:
        raise ValueError(f"the kept table has no rows for process {process!r}")
    return df.sort_values(["L", "level", "noise"])


def _draw_bp(ax, df: pd.DataFrame, hue: str, palette: dict, x: str = "noise") -> None:
    """Exact BP: posterior marginal at the true latent (line + filled dots) and the kept fraction of
    posterior samples (open markers with Wilson 95% intervals)."""
    sns.lineplot(data=df, x=x, y="kept_marginal", hue=hue, palette=palette, marker="o",
                 markersize=4, linewidth=1.4, ax=ax, legend=False, errorbar=None)
    for key, g in df.groupby(hue):
        ax.errorbar(g[x], g["kept_sampled"],
                    yerr=[(g["kept_sampled"] - g["ci_low"]).clip(lower=0),
                          (g["ci_high"] - g["kept_sampled"]).clip(lower=0)],
                    fmt="s", mfc="none", ms=4, mew=0.9, color=palette[key], elinewidth=0.7,
                    capsize=1.5, alpha=0.8)


def _chance(ax, n_classes: float | None) -> None:
    if n_classes:
        ax.axhline(1.0 / n_classes, color="0.6", lw=0.8, ls=":")


def _eps_star(ax, eps_star: float | None) -> None:
    if eps_star is not None and np.isfinite(eps_star):
        ax.axvline(eps_star, color="crimson", lw=1.0, ls="--")
        ax.text(eps_star + 0.01, 0.97, r"$\varepsilon^*$" + f" = {eps_star:.3f}", color="crimson",
                ha="left", va="top", fontsize=9, transform=ax.get_xaxis_transform())


def _style_legend(ax, theory: bool, extra: list | None = None) -> list:
    handles = [Line2D([], [], color="0.3", marker="o", ms=4, label="BP marginal"),
               Line2D([], [], color="0.3", marker="s", mfc="none", ls="none", ms=4,
                      label="BP posterior sample (95% CI)")]
    if theory:
        handles.append(Line2D([], [], color="0.3", ls="--", label="mean field"))
    return handles + (extra or [])


def class_vs_eps(kept: pd.DataFrame, theory: pd.DataFrame, summary: pd.DataFrame,
                 depths: Sequence[int], n_classes: int | None = None):
    """Figure (a): probability of keeping the class vs eps for every depth L, exact BP and
    mean field, with eps* marked."""
    use_style()
    df = _rows(kept, "epsilon")
    df = df[(df["level"] == 0) & df["L"].isin(depths)]
    colors = dict(zip(sorted(depths), depth_palette(len(depths))))
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    th = theory[(theory["level"] == 0) & theory["L"].isin(depths)]
    for L, g in th.groupby("L"):
        ax.plot(g["eps"], g["kept"], ls="--", lw=1.1, color=colors[L])
    _draw_bp(ax, df, "L", colors)
    eps_star = float(summary["eps_star"].iloc[0])
    _eps_star(ax, eps_star)
    _chance(ax, n_classes)
    ax.set(xlabel=r"noise $\varepsilon$", ylabel="P(class kept)", xlim=(-0.02, 1.02),
           ylim=(-0.02, 1.05))
    depth_handles = [Line2D([], [], color=colors[L], lw=2, label=f"L = {L}") for L in sorted(depths)]
    ax.legend(handles=depth_handles + _style_legend(ax, True), loc="lower left", fontsize=8)
    row = summary.iloc[0]
    ax.set_title(f"Class reconstruction, RHM v={row['v']} m={row['m']} s={row['s']}", fontsize=10)
    return fig


def levels_vs_eps(kept: pd.DataFrame, theory: pd.DataFrame, summary: pd.DataFrame, depth: int,
                  n_classes: int | None = None):
    """Figure (b): probability of keeping the latent of every level of one depth-L tree vs eps:
    every level near 1 below eps*, a step there for the class, a gentler fall for low levels."""
    use_style()
    df = _rows(kept, "epsilon")
    df = df[df["L"] == depth]
    levels = list(range(depth + 1))
    colors = dict(zip(levels, depth_palette(len(levels))))
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    th = theory[theory["L"] == depth]
    for level, g in th.groupby("level"):
        ax.plot(g["eps"], g["kept"], ls="--", lw=1.1, color=colors[level])
    _draw_bp(ax, df, "level", colors)
    _eps_star(ax, float(summary["eps_star"].iloc[0]))
    _chance(ax, n_classes)
    ax.set(xlabel=r"noise $\varepsilon$", ylabel="P(latent kept)", xlim=(-0.02, 1.02),
           ylim=(-0.02, 1.05))
    handles = [Line2D([], [], color=colors[lv], lw=2,
                      label="class (l = 0)" if lv == 0 else ("leaves" if lv == depth else f"l = {lv}"))
               for lv in levels]
    ax.legend(handles=handles + _style_legend(ax, True), loc="lower left", fontsize=8, ncol=2)
    ax.set_title(f"Every level of one tree, L = {depth}", fontsize=10)
    return fig


def time_views(kept: pd.DataFrame, process: str, depths: Sequence[int], depth: int,
               n_classes: int | None = None):
    """Figure (c): against t/T for a time-based process: class kept for every L (left) and every
    level of the depth-``depth`` tree (right)."""
    use_style()
    df = _rows(kept, process)
    # not sharey: Matplotlib would hide the right panel's own y label (it is not the class there)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2))
    d_colors = dict(zip(sorted(depths), depth_palette(len(depths))))
    _draw_bp(left, df[(df["level"] == 0) & df["L"].isin(depths)], "L", d_colors, x="t_over_T")
    levels = list(range(depth + 1))
    l_colors = dict(zip(levels, depth_palette(len(levels))))
    _draw_bp(right, df[df["L"] == depth], "level", l_colors, x="t_over_T")
    for ax in (left, right):
        _chance(ax, n_classes)
        ax.set(xlabel="t / T", xlim=(-0.02, 1.02), ylim=(-0.02, 1.05))
    left.set_ylabel("P(class kept)")
    right.set_ylabel("P(latent kept)")
    left.legend(handles=[Line2D([], [], color=d_colors[L], lw=2, label=f"L = {L}")
                         for L in sorted(depths)] + _style_legend(left, False),
                loc="upper right", fontsize=8)
    right.legend(handles=[Line2D([], [], color=l_colors[lv], lw=2,
                                 label="class (l = 0)" if lv == 0 else
                                 ("leaves" if lv == depth else f"l = {lv}")) for lv in levels],
                 loc="upper right", fontsize=8, ncol=2)
    label = _PROCESS_LABEL.get(process, process)
    left.set_title(f"Class vs t/T, {label}", fontsize=10)
    right.set_title(f"Every level of one tree (L = {depth}), {label}", fontsize=10)
    return fig


def cobweb(v: int, m: int, s: int, summary: pd.DataFrame, depth: int, offset: float = 0.15):
    """Figure (d): the mean-field map F(p) with its fixed points and two cobweb orbits of ``depth``
    steps, started from the leaves at eps* - offset (flows to 1) and eps* + offset (flows to 1/v)."""
    use_style()
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    p = np.linspace(1.0 / v, 1.0, 600)
    ax.plot(p, F(p, v, m, s), color="0.15", lw=1.6, label=r"$F(p)$")
    ax.plot(p, p, color="0.6", lw=0.9, ls=":", label=r"$p$")
    row = summary.iloc[0]
    eps_star = float(row["eps_star"])
    fixed = [float(x) for x in str(row["fixed_points"]).split()]
    p_star = float(row["p_star"]) if np.isfinite(row["p_star"]) else None
    for x in fixed:
        unstable = p_star is not None and np.isclose(x, p_star)
        ax.plot([x], [x], "o", ms=7, color="crimson" if unstable else "0.15",
                mfc="white" if unstable else "0.15", zorder=5)
    orbits = []
    if np.isfinite(eps_star):
        orbits = [(max(eps_star - offset, 0.0), "tab:blue"), (min(eps_star + offset, 1.0), "tab:orange")]
    for eps, color in orbits:
        x = 1 - eps * (1 - 1 / v)
        xs, ys = [x], [x]
        for _ in range(depth):
            y = float(F(x, v, m, s))
            xs += [x, y]
            ys += [y, y]
            x = y
        ax.plot(xs, ys, color=color, lw=1.0, label=rf"orbit from $\varepsilon$ = {eps:.2f}")
        ax.plot(xs[0], ys[0], ">", color=color, ms=5)
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], marker="o", ls="none", color="0.15", label="stable fixed point"),
                Line2D([], [], marker="o", ls="none", color="crimson", mfc="white",
                       label=f"unstable p* = {p_star:.3f}" if p_star is not None else "unstable")]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    ax.set(xlabel=r"$p_{l+1}$ (weight on the true symbol, level below)",
           ylabel=r"$p_l = F(p_{l+1})$", xlim=(1.0 / v - 0.02, 1.02), ylim=(1.0 / v - 0.02, 1.02),
           aspect="equal")
    ax.set_title(f"Mean-field map, v={v} m={m} s={s}, {depth} steps", fontsize=10)
    return fig
