"""Figures of the phase diagram (:mod:`hierphase.phase_diagram`): the (v, m) plane per tuple size
with mean field's line and exact BP's verdicts, and BP's eps* against mean field's.

Each function takes the ``phase_diagram`` table and returns a matplotlib Figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..phase_diagram import boundary_m
from .style import use_style  # selects the Agg backend before pyplot loads

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator  # noqa: E402

__all__ = ["phase_plane", "eps_star_comparison"]

#: Marker of BP's verdict, edge colour of a disagreement with mean field.
_MARKERS = {True: "o", False: "X"}
_DISAGREE = "crimson"


def phase_plane(table: pd.DataFrame):
    """One panel per s: m against v (log axes). Mean field's line ``m_c(v)`` (a transition below
    it), the RHM's limit ``m = v^(s-1)``; every point coloured by BP's class half point at its
    largest depth, shaped by BP's verdict (o: the deeper tree keeps the class better, X: not),
    ringed in red where BP and mean field disagree."""
    use_style()
    sizes = sorted(int(s) for s in table["s"].unique())
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.2 * len(sizes), 4.4), squeeze=False)
    cmap, norm = sns.color_palette("viridis", as_cmap=True), Normalize(0.0, 1.0)
    for ax, s in zip(axes[0], sizes):
        t = table[table["s"] == s]
        v = np.geomspace(max(2.0, t["v"].min() / 1.3), t["v"].max() * 1.3, 200)
        ax.plot(v, boundary_m(v, s), color="0.2", lw=1.4, label=r"mean field: $m_c(v)$")
        ax.plot(v, v ** (s - 1.0), color="0.6", lw=1.0, ls=":", label=r"$m = v^{s-1}$ (RHM limit)")
        ax.fill_between(v, 0.8, np.minimum(boundary_m(v, s), v ** (s - 1.0)), color="0.92",
                        zorder=0, label="mean-field transition")
        for verdict, g in t.groupby("has_transition_bp"):
            ax.scatter(g["v"], g["m"], c=g["eps_half_bp"].to_numpy(dtype=float), cmap=cmap,
                       norm=norm, marker=_MARKERS[bool(verdict)], s=40, edgecolors="0.25",
                       linewidths=0.4, zorder=3)
        odd = t[t["has_transition_bp"] != t["has_transition_mf"]]
        ax.scatter(odd["v"], odd["m"], s=150, facecolors="none", edgecolors=_DISAGREE,
                   linewidths=1.4, zorder=4)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(sorted(t["v"].unique())))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.set_ylim(0.8, t["m"].max() * 1.5)
        ax.set_xlabel("vocabulary size $v$")
        ax.set_ylabel("rules per symbol $m$")
        depths = ", ".join(sorted(set(t["L_values"].str.replace(" ", ", "))))
        ax.set_title(f"s = {s}: {len(t)} points, BP at L = {depths}", fontsize=10)
    handles, _ = axes[0][0].get_legend_handles_labels()
    handles += [Line2D([], [], marker="o", ls="none", color="0.5", label="BP: transition"),
                Line2D([], [], marker="X", ls="none", color="0.5", label="BP: none"),
                Line2D([], [], marker="o", ls="none", ms=11, mfc="none", mec=_DISAGREE, mew=1.4,
                       label="BP and mean field disagree")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8,
               bbox_to_anchor=(0.45, -0.16))
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[0].tolist(),
                 label=r"BP class half point $\varepsilon_{1/2}$ (largest L)")
    return fig


def eps_star_comparison(table: pd.DataFrame):
    """BP's eps* against mean field's at every point where mean field has a transition: the half
    point at the largest depth (open) and its extrapolation to deep trees with its standard error
    (filled), coloured by s; the diagonal is agreement."""
    use_style()
    t = table[table["has_transition_mf"]].copy()
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1.0, ls="--", label="BP = mean field")
    palette = dict(zip(sorted(t["s"].unique()), sns.color_palette("deep")))
    for s, g in t.groupby("s"):
        color = palette[s]
        ax.scatter(g["eps_star_mf"], g["eps_half_bp"], marker="o", facecolors="none",
                   edgecolors=[color], s=30, label=rf"s = {s}: $\varepsilon_{{1/2}}$ at largest L")
        ok = np.isfinite(g["eps_star_bp_extrapolated"])
        ax.errorbar(g.loc[ok, "eps_star_mf"], g.loc[ok, "eps_star_bp_extrapolated"],
                    yerr=g.loc[ok, "err"].fillna(0.0), fmt="o", ms=4, color=color,
                    elinewidth=0.8, capsize=1.5, label=rf"s = {s}: extrapolated $L \to \infty$")
    ax.set_xlim(0, 1.02)
    # an extrapolation far from the depths measured (nu large) may land above 1: keep it in view
    top = np.nanmax(np.r_[1.0, t["eps_half_bp"], t["eps_star_bp_extrapolated"] + t["err"].fillna(0)])
    ax.set_ylim(0, 1.05 * top)
    if top > 1:
        ax.axhline(1.0, color="0.8", lw=0.8, ls=":")
    ax.set_xlabel(r"mean field $\varepsilon^*$")
    ax.set_ylabel(r"exact BP $\varepsilon^*$")
    ax.legend(loc="upper left", fontsize=8)
    return fig
