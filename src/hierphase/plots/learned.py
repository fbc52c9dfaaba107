"""Figures of the learned branch: kept curves over exact BP, distance to BP vs P, loss curves,
change-correlation susceptibility over exact BP."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from hierphase.plots.style import depth_palette, use_style

__all__ = ["kept_overlay", "distance_vs_P", "loss_curves", "chi_overlay"]


def kept_overlay(kept: pd.DataFrame, experiment: str, process: str):
    """One panel per training-set size P: per-level kept fraction vs t/T of the learned model
    (solid, markers, Wilson 95% band; seeds pooled by mean) over exact BP's posterior marginal
    (dashed) on the same noisy states."""
    use_style()
    df = kept[(kept["experiment"] == experiment) & (kept["process"] == process)]
    if df.empty:
        raise ValueError(f"no kept rows for experiment={experiment!r}, process={process!r}")
    exact = df[df["model"] == "bp"]
    learned = df[df["model"] != "bp"]
    Ps = sorted(learned["P"].dropna().unique())
    if not Ps:
        raise ValueError(f"no learned rows for experiment={experiment!r}, process={process!r}")
    levels = sorted(df["level"].unique())
    colors = depth_palette(len(levels))
    fig, axes = plt.subplots(1, len(Ps), figsize=(3.2 * len(Ps) + 0.8, 3.3), sharey=True, squeeze=False)
    for ax, P in zip(axes[0], Ps):
        part = learned[learned["P"] == P]
        for level, color in zip(levels, colors):
            ex = exact[exact["level"] == level].sort_values("t_over_T")
            ax.plot(ex["t_over_T"], ex["kept_marginal"], ls="--", color=color, lw=1.3)
            le = part[part["level"] == level].groupby("t_over_T", as_index=False)[
                ["kept_sampled", "ci_low", "ci_high"]].mean()
            ax.plot(le["t_over_T"], le["kept_sampled"], "-o", color=color, ms=3, lw=1.5)
            ax.fill_between(le["t_over_T"], le["ci_low"], le["ci_high"], color=color, alpha=0.15, lw=0)
        inv = part[part["level"] == 0].groupby("t_over_T", as_index=False)["invalid_rate"].mean()
        ax.plot(inv["t_over_T"], inv["invalid_rate"], ":", color="0.45", lw=1.2)
        ax.set_title(f"P = {int(P)}")
        ax.set_xlabel("t / T")
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("fraction kept")
    handles = [Line2D([], [], color=c, lw=2, label="class" if lv == 0 else f"level {lv}")
               for lv, c in zip(levels, colors)]
    handles += [Line2D([], [], color="k", ls="-", marker="o", ms=3, label="learned (sampled)"),
                Line2D([], [], color="k", ls="--", label="exact BP (marginal)"),
                Line2D([], [], color="0.45", ls=":", label="learned: no valid class")]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"{experiment}, {process} diffusion: learned denoiser vs exact BP")
    fig.tight_layout()
    return fig


def distance_vs_P(distance: pd.DataFrame, tolerance: float = 0.1):
    """Max over t of |learned - exact BP| class-kept fraction vs P (log axis), per experiment and
    process; seeds as points, their mean as the line; the acceptance tolerance dashed."""
    use_style()
    df = distance.copy()
    df["curve"] = df["experiment"] + ", " + df["process"]
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    sns.lineplot(data=df, x="P", y="max_abs_diff", hue="curve", marker="o", errorbar=None, ax=ax)
    sns.scatterplot(data=df, x="P", y="max_abs_diff", hue="curve", legend=False, alpha=0.5, ax=ax, s=18)
    ax.axhline(tolerance, color="0.4", ls="--", lw=1)
    ax.text(df["P"].min(), tolerance, f" tolerance {tolerance:g}", va="bottom", fontsize=8, color="0.3")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training-set size P")
    ax.set_ylabel("max$_t$ |kept$_{learned}$ - kept$_{BP}$| (class)")
    ax.set_ylim(0, max(0.3, float(np.nanmax(df["max_abs_diff"])) * 1.1))
    ax.legend(title=None)
    fig.tight_layout()
    return fig


def loss_curves(loss: pd.DataFrame):
    """Training loss (cross-entropy of the clean leaves, averaged over logging windows) vs step; one
    panel per experiment and process, one line per P (seeds averaged)."""
    use_style()
    df = loss.copy()
    df["curve"] = df["experiment"] + ", " + df["process"]
    curves = sorted(df["curve"].unique())
    Ps = sorted(df["P"].unique())
    palette = dict(zip(Ps, depth_palette(len(Ps))))
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.3), squeeze=False)
    for ax, curve in zip(axes[0], curves):
        sns.lineplot(data=df[df["curve"] == curve], x="step", y="loss", hue="P", palette=palette,
                     errorbar=None, ax=ax)
        ax.set_title(curve)
        ax.set_xlabel("training step")
        ax.set_ylabel("loss (nats per leaf)")
    fig.tight_layout()
    return fig


def chi_overlay(susceptibility: pd.DataFrame, experiment: str, process: str):
    """Susceptibility chi of the leaves' changes vs t/T: one colour per training-set size P
    (solid, markers, bootstrap 95% band over x0; seeds pooled by mean), exact BP on the same x0
    and noisy states dashed (black, its band grey)."""
    use_style()
    df = susceptibility[(susceptibility["experiment"] == experiment)
                        & (susceptibility["process"] == process)
                        & (susceptibility["level"] == susceptibility["L"])]
    exact = df[df["model"] == "bp"].sort_values("t_over_T")
    learned = df[df["model"] != "bp"]
    Ps = sorted(learned["P"].dropna().unique())
    if exact.empty or not Ps:
        raise ValueError(f"no exact-BP or no learned chi rows for experiment={experiment!r}, "
                         f"process={process!r}")
    colors = dict(zip(Ps, depth_palette(len(Ps))))
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.fill_between(exact["t_over_T"], exact["chi_lo"], exact["chi_hi"], color="0.5", alpha=0.2, lw=0)
    ax.plot(exact["t_over_T"], exact["chi"], "--", color="k", lw=1.5, label="exact BP")
    for P in Ps:
        le = learned[learned["P"] == P].groupby("t_over_T", as_index=False)[
            ["chi", "chi_lo", "chi_hi"]].mean()
        sns.lineplot(data=le, x="t_over_T", y="chi", marker="o", markersize=4, color=colors[P],
                     label=f"P = {int(P)}", ax=ax)
        ax.fill_between(le["t_over_T"], le["chi_lo"], le["chi_hi"], color=colors[P], alpha=0.15, lw=0)
    L = int(df["L"].iloc[0])
    n_x0, n_traj = int(exact["n_x0"].iloc[0]), int(exact["n_traj"].iloc[0])
    ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("t / T")
    ax.set_ylabel(r"susceptibility $\chi$ (leaves)")
    ax.set_title(f"{experiment}, {process} diffusion, L = {L}: {n_x0} x0 x {n_traj} runs",
                 fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig
