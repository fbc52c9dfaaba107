"""What marks a hierarchy: one figure comparing the RHM with controls that flip their class
sharply without one (:func:`hierphase.controls.control_summary` and the tree-binned tables).

Three panels: chi_max against the number of sites ``d`` (log axis: a constant growth per level
is a straight line, growth in proportion to ``d`` an exponential), the class flip's 90-10%
width against ``d``, and ``C(k)/C(1)`` at each curve's chi peak against the tree level ``k``
(log axis: a power law in ``s**k`` is a straight line). One colour per (family, model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..scaling import leaves, pool_rule_seeds
from .style import use_style  # selects the Agg backend before pyplot loads

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = ["hierarchy_controls", "level_exponents", "depth_estimates"]

_LABEL = {("rhm_permuted", "bp"): "RHM (its own order)",
          ("rhm_permuted", "bp_permuted"): "RHM, leaves permuted",
          ("rhm", "bp"): "RHM", ("random_code", "exact"): "random code",
          ("flat_mixture", "bp"): "flat mixture"}


def _label(family: str, experiment: str, model: str) -> str:
    label = _LABEL.get((family, model), f"{family} ({model})")
    return f"{label}: {experiment}" if family == "rhm" else label


def hierarchy_controls(summary: pd.DataFrame, correlations: pd.DataFrame, *,
                       process: str = "epsilon"):
    """The figure (module docstring) from :func:`~hierphase.controls.control_summary`'s table
    and the correlation tables it was made from, the rows of ``process``, measured ones only
    (mean field left out); the decay panel shows tree-binned groups. Returns the Figure."""
    need = {"family", "experiment", "model", "process", "L", "tree", "d", "chi_max",
            "chi_max_lo", "chi_max_hi", "class_flip_width", "peak_noise"}
    missing = need - set(summary.columns)
    if missing:
        raise ValueError(f"the summary table lacks the columns {sorted(missing)}")
    summary = summary[(summary["process"] == process) & (summary["model"] != "mean_field")]
    if summary.empty:
        raise ValueError(f"the summary table has no measured rows of the {process} process")
    use_style()
    keys = ["family", "experiment", "model"]
    groups = sorted(set(summary[keys].itertuples(index=False, name=None)))
    colors = dict(zip(groups, sns.color_palette("colorblind", len(groups))))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3), constrained_layout=True)
    cor = correlations[correlations["process"] == process]
    cor = pool_rule_seeds(leaves(cor), keys + ["L", "noise", "level", "distance"], ["C"])
    for (family, experiment, model), g in summary.groupby(keys, sort=True):
        g = g.sort_values("d")
        c = colors[(family, experiment, model)]
        lab = _label(family, experiment, model)
        axes[0].errorbar(g["d"], g["chi_max"], yerr=[g["chi_max"] - g["chi_max_lo"],
                                                     g["chi_max_hi"] - g["chi_max"]],
                         marker="o", color=c, label=lab, capsize=2)
        ok = np.isfinite(g["class_flip_width"].astype(float))
        axes[1].plot(g["d"][ok], g["class_flip_width"][ok], marker="o", color=c, label=lab)
        row = g.iloc[-1]  # the largest d of the group
        if not row["tree"]:
            continue
        at = cor[(cor["family"] == family) & (cor["experiment"] == experiment)
                 & (cor["model"] == model) & (cor["L"] == row["L"])
                 & np.isclose(cor["noise"].astype(float), float(row["peak_noise"]))]
        at = at[at["distance"] >= 1].sort_values("distance")
        if not at.empty:
            ratio = at["C"].to_numpy(float) / float(at["C"].iloc[0])
            axes[2].plot(at["distance"], np.where(ratio > 0, ratio, np.nan), marker="o",
                         color=c, label=f"{lab}, d = {int(row['d'])}")
    axes[0].set(xlabel="sites d (log scale)", ylabel=r"$\chi_{\max}$",
                title="susceptibility at its peak")
    axes[1].set(yscale="log", xlabel="sites d (log scale)",
                ylabel="class flip width (90% to 10%)", title="sharpness of the class flip")
    sizes = sorted({int(d) for d in summary["d"]})
    for ax in axes[:2]:  # d doubles per tree level: powers of 2 as plain numbers
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(d) for d in sizes])
        ax.minorticks_off()
    axes[2].set(yscale="log", xlabel="tree level k of the common ancestor",
                ylabel=r"$C(k)/C(1)$ at the peak", title="decay across levels")
    for ax in axes:
        ax.legend(fontsize="small")
    return fig


def level_exponents(table: pd.DataFrame, *, experiment: str, process: str = "epsilon",
                    k_min: int = 1):
    """The exponent ``a`` of C at the chi peak (:func:`hierphase.scaling.level_exponents`'s
    table), windows ``[k_min, k_max]`` against ``k_max``, one colour per depth L: left, fitted
    per tree level (``r = s**k``), exact BP (filled) and mean field on the same window (open,
    dashed); right, the same windows on the spatial axis ``r = s**k - 1``. The dotted line is
    mean field's value at infinite depth; with no window to show (trees too shallow), a note.
    Returns the Figure."""
    need = {"experiment", "process", "model", "L", "k_min", "k_max", "a", "a_err", "a_spatial",
            "a_spatial_err", "a_mean_field", "a_mean_field_spatial", "a_mean_field_infinite"}
    missing = need - set(table.columns)
    if missing:
        raise ValueError(f"the level-exponents table lacks the columns {sorted(missing)}")
    t = table[(table["experiment"] == experiment) & (table["process"] == process)
              & (table["k_min"] == k_min)]
    use_style()
    depths = sorted(int(L) for L in t["L"].unique())
    colors = dict(zip(depths, sns.color_palette("viridis", max(len(depths), 1))))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, constrained_layout=True)
    if t.empty:  # trees too shallow, or C at the noise floor, for three levels from k_min
        for ax in axes:
            ax.text(0.5, 0.5, f"no window of enough significant tree levels from k = {k_min}\n"
                    f"({experiment}, {process}-process)", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9)
    for ax, (col, mf, title) in zip(axes, [
            ("a", "a_mean_field", r"per tree level: $C \sim (s^k)^{-a}$"),
            ("a_spatial", "a_mean_field_spatial", r"spatial: $C \sim (s^k - 1)^{-a}$")]):
        for L in depths:
            g = t[t["L"] == L].sort_values("k_max")
            ax.errorbar(g["k_max"], g[col], yerr=g[f"{col}_err"], marker="o", ms=5,
                        color=colors[L], capsize=2, label=f"exact BP, L = {L}")
            ax.plot(g["k_max"], g[mf], marker="o", ms=5, mfc="none", ls="--",
                    color=colors[L], label=f"mean field, L = {L}")
        inf = t["a_mean_field_infinite"].dropna()
        if not inf.empty:
            ax.axhline(float(inf.iloc[0]), color="0.3", ls=":",
                       label=f"mean field, L = inf: {float(inf.iloc[0]):.3f}")
        ax.set(xlabel=f"last tree level of the fit k_max (from k = {k_min})", title=title)
    axes[0].set_ylabel("exponent a at the chi peak")
    if not t.empty:
        axes[1].legend(fontsize="small", loc="best")
    fig.suptitle(f"Exponent of the change correlations, {experiment}, {process}-process",
                 fontsize=11)
    return fig


def depth_estimates(estimates: pd.DataFrame, calibration: pd.DataFrame):
    """The depth read off the correlations (:func:`hierphase.depth.held_out_estimates`): left,
    the feature (chi at its peak) against the true depth, calibration RHMs and held-out ones,
    with the calibrated line; right, the estimated depth against the true one (held-out RHMs
    whose rounded estimate is exact inside the band of half a level). Returns the Figure."""
    need = {"role", "L", "rule_seed", "L_estimate", "exact", "feature"}
    missing = need - set(estimates.columns)
    if missing:
        raise ValueError(f"the depth estimates table lacks the columns {sorted(missing)}")
    if calibration.empty:
        raise ValueError("the calibration table is empty")
    cal = calibration.iloc[0]
    feature = str(cal["feature"])
    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2), constrained_layout=True)
    colors = {"calibration": "0.35", "held_out": sns.color_palette("colorblind")[0]}
    seeds = sorted(int(r) for r in estimates["rule_seed"].unique())
    offset = {r: 0.12 * (i - (len(seeds) - 1) / 2) for i, r in enumerate(seeds)}
    for role, g in estimates.groupby("role", sort=True):
        x = g["L"].astype(float) + g["rule_seed"].map(offset)
        marker = "s" if role == "calibration" else "o"
        label = "calibration" if role == "calibration" else "held out"
        axes[0].plot(x, g[feature].astype(float), marker, color=colors[role], label=label)
        axes[1].plot(x, g["L_estimate"].astype(float), marker, color=colors[role],
                     label=label)
        wrong = g[~g["exact"].astype(bool)]
        if role == "held_out" and not wrong.empty:
            axes[1].plot(wrong["L"].astype(float) + wrong["rule_seed"].map(offset),
                         wrong["L_estimate"].astype(float), "x", color="crimson", ms=9,
                         label="held out, rounded estimate wrong")
    depths = np.arange(int(estimates["L"].min()), int(estimates["L"].max()) + 1)
    grid = np.linspace(depths[0] - 0.5, depths[-1] + 0.5, 50)
    if cal["beta"] != 0:
        axes[0].plot(grid, (grid - cal["alpha"]) / cal["beta"], ls="--", color="0.5",
                     label=f"L = {cal['alpha']:.2f} + {cal['beta']:.2f} {feature}")
    axes[1].plot(grid, grid, color="0.5", lw=1)
    axes[1].fill_between(grid, grid - 0.5, grid + 0.5, color="0.85", label="rounds to the true L")
    axes[0].set(xlabel="true depth L", ylabel=r"$\chi_{\max}$" if feature == "chi_max" else feature,
                title="the feature against the depth")
    axes[1].set(xlabel="true depth L", ylabel="estimated depth",
                title=f"held out: {int(cal['n_exact'])} of {int(cal['n_held_out'])} exact")
    for ax in axes:
        ax.set_xticks(depths)
        ax.legend(fontsize="small")
    return fig
