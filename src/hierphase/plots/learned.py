"""Figures of the learned branch: kept curves over exact BP, distance to BP vs P, loss curves,
change-correlation susceptibility over exact BP, and how the grammar is learned level by level
(validity vs P and vs training step, sample complexity per level, memorisation vs P)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from hierphase.plots.style import depth_palette, use_style

__all__ = ["kept_overlay", "distance_vs_P", "loss_curves", "chi_overlay", "validity_vs_P",
           "learning_curves", "sample_complexity", "memorized_vs_P"]


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


def _level_label(level: int, L: int) -> str:
    """Level l's rules make level l + 1: 0 is the class rules, L - 1 those that make the leaves."""
    if level == 0:
        return "level 0 (class rules)"
    return f"level {level} (leaf rules)" if level == L - 1 else f"level {level}"


def _validity_panels(df: pd.DataFrame, x: str, xlabel: str, by: list[str], title):
    """One panel per value of the columns ``by``: the per-level fraction of tuples that are rules
    (solid, Wilson band) and of samples valid up to that level (dotted), against ``x``."""
    panels = sorted(df.groupby(by).groups)
    L = int(df["level"].max()) + 1
    colors = depth_palette(L)
    ncols = min(len(panels), 3)  # rows of at most three panels
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols + 1.2, 3.3 * nrows), sharey=True,
                             squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, panels):
        part = df[(df[by] == pd.Series(key, index=by)).all(axis=1)]
        for level, color in zip(range(L), colors):
            cur = part[part["level"] == level].groupby(x, as_index=False)[
                ["tuples_valid", "tuples_valid_ci_low", "tuples_valid_ci_high", "valid_up_to"]].mean()
            ax.plot(cur[x], cur["tuples_valid"], "-o", color=color, ms=3.5, lw=1.5)
            ax.fill_between(cur[x], cur["tuples_valid_ci_low"], cur["tuples_valid_ci_high"],
                            color=color, alpha=0.15, lw=0)
            ax.plot(cur[x], cur["valid_up_to"], ":", color=color, lw=1.2)
        ax.set_xscale("log", base=2 if x == "P" else 10)
        ax.set_xlabel(xlabel)
        ax.set_title(title(*key), fontsize=10)
        ax.set_ylim(-0.02, 1.02)
    for row in axes:
        row[0].set_ylabel("fraction valid")
    handles = [Line2D([], [], color=c, lw=2, label=_level_label(lv, L)) for lv, c in enumerate(colors)]
    handles += [Line2D([], [], color="k", ls="-", marker="o", ms=3, label="tuples that are rules"),
                Line2D([], [], color="k", ls=":", label="samples valid up to the level")]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def validity_vs_P(validity: pd.DataFrame):
    """Per level, the validity of the trained models' samples against the training-set size P: all
    samples, and the novel ones (no copy of a training datum), whose validity is what the model
    generalises. Seeds averaged."""
    use_style()
    if validity.empty:
        raise ValueError("validity_vs_P: empty validity table")
    return _validity_panels(validity, "P", "training-set size P", ["experiment", "process", "samples"],
                            lambda e, p, smp: f"{e}, {p}: {smp} samples")


def learning_curves(curve: pd.DataFrame, samples: str = "novel"):
    """Per level, the validity of the ``samples`` against the training step, one panel per
    (experiment, process, P): which level is learned first as training goes on."""
    use_style()
    df = curve[curve["samples"] == samples].copy()
    if df.empty:
        raise ValueError(f"learning_curves: no {samples!r} rows")
    fig = _validity_panels(df, "step", "training step", ["experiment", "process", "P"],
                           lambda e, p, P: f"{e}, {p}, P = {int(P)}")
    fig.suptitle(f"validity of {samples} samples during training", y=1.02)
    return fig


def sample_complexity(table: pd.DataFrame, params: dict):
    """P*_l (the P at which level l's validity first reaches a threshold) against the level, log
    scale, one marker per threshold and process, with a bar over the measured P values around it;
    where only a bound is known, an open triangle: up at the largest P (not reached there), down
    at the smallest (reached already there). The grey line is the
    slope m^(l0-l), P* growing by a factor m per level up, anchored on the lowest level l0 with a
    measured P* in the panel."""
    use_style()
    experiments = sorted(table["experiment"].unique())
    if not experiments:
        raise ValueError("sample_complexity: empty table")
    fig, axes = plt.subplots(1, len(experiments), figsize=(4.6 * len(experiments) + 1.0, 3.5),
                             squeeze=False)
    for ax, experiment in zip(axes[0], experiments):
        v, m, s, L = params[experiment]
        part = table[table["experiment"] == experiment]
        styles = dict(zip(sorted(part["process"].unique()), ["o", "s", "^", "D"]))
        colors = dict(zip(sorted(part["threshold"].unique()), sns.color_palette("deep")))
        shift = {p: 0.06 * (i - (len(styles) - 1) / 2) for i, p in enumerate(styles)}
        for (process, threshold), cur in part.groupby(["process", "threshold"]):
            cur = cur.groupby("level", as_index=False)[["P_star", "P_low", "P_high"]].median()
            cur["level"] = cur["level"] + shift[process]  # side by side, not on top of each other
            color, marker = colors[threshold], styles[process]
            ok = cur["P_star"].notna()
            ax.plot(cur.loc[ok, "level"], cur.loc[ok, "P_star"], marker=marker, color=color, ls="-",
                    label=f"{process}, {threshold:g}")
            for _, row in cur[ok].iterrows():
                ax.plot([row["level"]] * 2, [row["P_low"], row["P_high"]], color=color, lw=1, alpha=0.5)
            # bounds only: a triangle up at the largest P (not reached there), down at the
            # smallest (reached already there); plotted, so the axes include them
            above = cur[~ok & np.isinf(cur["P_high"])]
            below = cur[~ok & ~np.isinf(cur["P_high"])]
            ax.plot(above["level"], above["P_low"], ls="none", marker="^", color=color, mfc="none")
            ax.plot(below["level"], below["P_high"], ls="none", marker="v", color=color, mfc="none")
        measured = part[part["P_star"].notna()]
        if not measured.empty:  # anchored on the lowest level (largest l) with a measured P*
            low = int(measured["level"].max())
            anchor = float(measured.loc[measured["level"] == low, "P_star"].min())
            levels = np.arange(L)
            ax.plot(levels, anchor * float(m) ** (low - levels), color="0.6", ls="--", lw=1,
                    label=f"x m = {m} per level")
        ax.set_yscale("log", base=2)
        ax.set_xticks(range(L))
        ax.invert_xaxis()
        ax.set_xlabel(f"level l (0: class rules; {L - 1}: leaf rules)")
        ax.set_ylabel("P*$_l$")
        ax.set_title(f"{experiment}: v={v}, m={m}, s={s}, L={L}", fontsize=10)
        ax.legend(fontsize=7, title="process, threshold", title_fontsize=7)
    fig.tight_layout()
    return fig


def memorized_vs_P(evaluation: pd.DataFrame, n_data: dict):
    """The fraction of generated samples that copy a training datum against P, per experiment and
    process (seeds as points), next to a perfect generaliser, which samples the RHM's ``n_data``
    data uniformly and so copies a training datum with probability 1 - (1 - 1/n)^P (dashed)."""
    from hierphase.learned.curves import perfect_generaliser_memorized

    use_style()
    df = evaluation.copy()
    df["curve"] = df["experiment"] + ", " + df["process"]
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    sns.lineplot(data=df, x="P", y="memorized", hue="curve", marker="o", errorbar=None, ax=ax)
    grid = np.geomspace(df["P"].min(), df["P"].max(), 200)
    for i, (experiment, n) in enumerate(sorted(n_data.items())):
        ax.plot(grid, perfect_generaliser_memorized(n, grid), ls="--", color="0.4", lw=1,
                label=f"perfect generaliser ({experiment}, {n} data)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training-set size P")
    ax.set_ylabel("fraction of samples copying a training datum")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
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
