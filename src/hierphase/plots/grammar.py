"""Figures of the grammar branch: the class kept against the noise at several sentence lengths,
chi beside the HMM control, C(r) at the chi peak, and co-changes against the true constituents.
Every function takes the rows to draw (the figure glue selects them) and returns the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from hierphase.plots.style import depth_palette, use_style

__all__ = ["class_kept_vs_noise", "chi_beside_control", "c_of_r_at_peak", "cochange_vs_distance",
           "phase_diagram", "MODEL_LABELS", "MODEL_COLORS"]

MODEL_LABELS = {"grammar": "grammar (inside-outside)", "hmm": "HMM control"}
MODEL_COLORS = {"grammar": "#1f5f99", "hmm": "#c0562b"}
NOISE_LABELS = {"epsilon": r"noise $\epsilon$", "masking": "masked fraction t/T"}


def _processes(df: pd.DataFrame, what: str) -> list[str]:
    processes = sorted(df["process"].unique())
    if not processes:
        raise ValueError(f"no rows to draw the {what}")
    return processes


def class_kept_vs_noise(rows: pd.DataFrame, experiment: str):
    """One panel per process: the fraction of sentences whose root symbol (the class) one
    posterior sample keeps, against the noise, one curve per sentence length (light: short,
    dark: long) with its standard-error band; dashed, the mean posterior probability of the true
    root."""
    use_style()
    processes = _processes(rows, "class kept")
    lengths = sorted(int(n) for n in rows["length"].unique())
    colors = dict(zip(lengths, depth_palette(len(lengths))))
    fig, axes = plt.subplots(1, len(processes), figsize=(3.8 * len(processes) + 1.2, 3.4),
                             squeeze=False, sharey=True)
    for ax, process in zip(axes[0], processes):
        part = rows[rows["process"] == process].sort_values(["length", "noise"])
        sns.lineplot(data=part.assign(n=part["length"].map(lambda n: f"n = {n}")), x="noise",
                     y="kept", hue="n", palette=[colors[n] for n in lengths], marker="o",
                     markersize=4, errorbar=None, ax=ax, legend=ax is axes[0][-1])
        for n in lengths:
            c = part[part["length"] == n]
            se = c["kept_se"].fillna(0.0)
            ax.fill_between(c["noise"], c["kept"] - se, c["kept"] + se, color=colors[n],
                            alpha=0.18, lw=0)
            ax.plot(c["noise"], c["probability"], ls="--", lw=1, color=colors[n])
        ax.set_xlabel(NOISE_LABELS.get(process, process))
        ax.set_title(process)
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("class (root) kept")
    legend = axes[0][-1].get_legend()
    if legend is not None:
        sns.move_legend(axes[0][-1], "center left", bbox_to_anchor=(1.02, 0.5), title="length")
    fig.suptitle(f"{experiment}: class kept by the exact posterior (dashed: P(true root))")
    fig.tight_layout()
    return fig


def chi_beside_control(chi: pd.DataFrame, experiment: str, length: int):
    """chi of the change spins against the noise with its bootstrap interval: the grammar's exact
    denoiser (left) beside the HMM control (right), one row per process, at one length."""
    use_style()
    processes = _processes(chi, "susceptibility")
    models = [m for m in ("grammar", "hmm") if m in set(chi["model"])]
    fig, axes = plt.subplots(len(processes), len(models), squeeze=False, sharey="row",
                             figsize=(3.6 * len(models), 2.9 * len(processes)))
    for i, process in enumerate(processes):
        for j, model in enumerate(models):
            ax = axes[i][j]
            c = chi[(chi["process"] == process) & (chi["model"] == model)].sort_values("noise")
            sns.lineplot(data=c, x="noise", y="chi", marker="o", markersize=4, errorbar=None,
                         color=MODEL_COLORS[model], ax=ax)
            ax.fill_between(c["noise"], c["chi_lo"], c["chi_hi"], color=MODEL_COLORS[model],
                            alpha=0.2, lw=0)
            ax.set_xlabel(NOISE_LABELS.get(process, process))
            ax.set_ylabel(r"$\chi$" if j == 0 else "")
            ax.set_title(f"{MODEL_LABELS[model]}, {process}")
            ax.set_ylim(bottom=min(0.0, float(np.nanmin(c["chi_lo"])) if len(c) else 0.0))
    fig.suptitle(f"{experiment}: susceptibility of the changes, n = {length}")
    fig.tight_layout()
    return fig


def c_of_r_at_peak(corr: pd.DataFrame, experiment: str, length: int):
    """One panel per process: the connected correlation C(r) of the change spins against the
    token distance r >= 1 at each model's chi peak (the noise in the legend), with its bootstrap
    interval."""
    use_style()
    processes = _processes(corr, "correlations")
    fig, axes = plt.subplots(1, len(processes), figsize=(4.2 * len(processes) + 0.4, 3.4),
                             squeeze=False)
    for ax, process in zip(axes[0], processes):
        part = corr[(corr["process"] == process) & (corr["r"] >= 1)]
        for model in ("grammar", "hmm"):
            c = part[part["model"] == model].sort_values("r")
            if c.empty:
                continue
            noise = float(c["noise"].iloc[0])
            ax.plot(c["r"], c["C"], "-o", ms=3, color=MODEL_COLORS[model],
                    label=f"{MODEL_LABELS[model]} (noise {noise:g})")
            ax.fill_between(c["r"], c["C_lo"], c["C_hi"], color=MODEL_COLORS[model], alpha=0.2,
                            lw=0)
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_xlabel("token distance r")
        ax.set_ylabel("C(r)" if ax is axes[0][0] else "")
        ax.set_title(f"{process}, at the $\\chi$ peak")
        ax.legend(fontsize=8)
    fig.suptitle(f"{experiment}: change correlations, n = {length}")
    fig.tight_layout()
    return fig


def cochange_vs_distance(rows: pd.DataFrame, experiment: str, length: int):
    """One column per process. Top: the mean width of the smallest constituent of the true tree
    that holds both tokens of a pair, against their distance r: over every pair at distance r (the
    distance-matched baseline, grey dashed) and over the pairs weighted by how often both tokens
    change together, for the grammar's denoiser and the HMM control (at the grammar's chi peak);
    dotted, r + 1, the smallest width possible. Bottom: the co-changing pairs' mean minus the
    baseline; below zero, tokens that change together sit in smaller constituents than pairs at
    the same distance. Bars: two standard errors over the x0 (the excess's on the same x0 as its
    baseline). (The weighting by connected correlations, also in the table, is a ratio
    whose denominator crosses zero where C(r) does: too noisy to draw.)"""
    use_style()
    processes = _processes(rows, "co-changes")
    fig, axes = plt.subplots(2, len(processes), figsize=(4.4 * len(processes) + 0.4, 6.0),
                             squeeze=False, sharex="col", height_ratios=[3, 2])
    for j, process in enumerate(processes):
        top, bottom = axes[0][j], axes[1][j]
        part = rows[rows["process"] == process]
        base = part[part["weighting"] == "all"].sort_values(["model", "r"])
        base = base[base["model"] == base["model"].iloc[0]] if len(base) else base
        baseline = base.set_index("r")["mean_enclosing_width"]
        r = baseline.index.to_numpy()
        top.plot(r, r + 1, ls=":", color="0.6", lw=1, label="r + 1 (smallest)")
        for model in ("grammar", "hmm"):
            c = part[(part["model"] == model) & (part["weighting"] == "co_change")]
            if c.empty:
                continue
            c = c.sort_values("r")
            label = f"co-changing, {MODEL_LABELS[model]}"
            top.errorbar(c["r"], c["mean_enclosing_width"], yerr=2 * c["mean_enclosing_width_se"],
                         fmt="-o", ms=2.5, lw=1.2, elinewidth=0.8, capsize=1.5,
                         color=MODEL_COLORS[model], label=label)
            bottom.errorbar(c["r"], c["width_excess"], yerr=2 * c["width_excess_se"], fmt="-o",
                            ms=2.5, lw=1.2, elinewidth=0.8, capsize=1.5,
                            color=MODEL_COLORS[model], label=label)
        top.plot(r, baseline.to_numpy(), ls="--", lw=1.5, color="0.3", zorder=5,
                 label="all pairs (baseline)")
        bottom.axhline(0.0, color="0.3", lw=1, ls="--")
        noise = float(part["noise"].iloc[0]) if len(part) else float("nan")
        top.set_title(f"{process}, noise {noise:g}")
        top.set_ylabel("smallest true constituent" if j == 0 else "")
        bottom.set_ylabel("minus baseline" if j == 0 else "")
        bottom.set_xlabel("token distance r")
        top.legend(fontsize=7)
    fig.suptitle(f"{experiment}: do co-changing tokens share a constituent? n = {length}")
    fig.tight_layout()
    return fig


PROCESS_COLORS = {"epsilon": "#1f5f99", "masking": "#5a9a3c"}


def _grammar_label(row: pd.Series) -> str:
    """An experiment's name with its ensemble (random: rules per nonterminal, overlap, law)."""
    if row["source"] == "random":
        return (f"{row['experiment']}\n{int(row['n_binary'])} rules\noverlap "
                f"{float(row['overlap']):g}\n{row['law']}")
    return "\n".join(row["experiment"].split("+")) + f"\n({row['source']})"


def phase_diagram(table: pd.DataFrame):
    """Per grammar (the experiments in order) and process. Left: the slope of log2(width) of the
    relative class curve (read between its clean and full-noise ends,
    :mod:`hierphase.grammar.phase`) against log2(n), with two standard errors; below the dashed
    zero the transition sharpens as sentences grow (filled: by more than two standard errors);
    for a family of RHM depths, the mean field's sharpening (black cross).
    Middle: the relative half point at the longest length, with the RHM mean field's (black
    cross) where the grammar is an RHM. Right: the two ends at the longest length, the mean
    posterior probability of the true root given the clean sentence (filled) and given none
    (open): how much of the class a clean sentence carries."""
    use_style()
    if table.empty:
        raise ValueError("no rows to draw the phase diagram")
    experiments = list(dict.fromkeys(table["experiment"]))
    labels = [_grammar_label(table[table["experiment"] == e].iloc[0]) for e in experiments]
    processes = sorted(table["process"].unique())
    fig, axes = plt.subplots(1, 3, figsize=(max(9.0, 2.6 * len(experiments) + 4.5), 3.8))
    offsets = np.linspace(-0.12, 0.12, len(processes)) if len(processes) > 1 else [0.0]
    x0 = np.arange(len(experiments))
    for offset, process in zip(offsets, processes):
        rows = table[table["process"] == process].set_index("experiment").reindex(experiments)
        x = x0 + offset
        color = PROCESS_COLORS.get(process, "0.3")
        for ax, y, err in ((axes[0], "sharpening", "sharpening_err"),
                           (axes[1], "eps_half", "eps_half_err")):
            ax.errorbar(x, rows[y], yerr=2 * rows[err].fillna(0.0), fmt="none", ecolor=color,
                        elinewidth=1, capsize=3)
        sharp = rows["sharp"].fillna(False).astype(bool).to_numpy()
        axes[0].scatter(x[sharp], rows["sharpening"][sharp], color=color, zorder=3, label=process)
        axes[0].scatter(x[~sharp], rows["sharpening"][~sharp], facecolor="white",
                        edgecolor=color, zorder=3, label=None if sharp.any() else process)
        axes[1].scatter(x, rows["eps_half"], color=color, zorder=3, label=process)
        expected = rows["mean_field_sharpening"].astype(float)
        if expected.notna().any():
            axes[0].scatter(x, expected, marker="x", color="black", zorder=4,
                            label="RHM mean field")
        mean_field = rows["mean_field_half"].astype(float)
        if mean_field.notna().any():
            axes[1].scatter(x, mean_field, marker="x", color="black", zorder=4,
                            label="RHM mean field")
    ends = table.drop_duplicates("experiment").set_index("experiment").reindex(experiments)
    axes[2].vlines(x0, ends["kept_floor"], ends["kept_clean"], color="0.6", lw=1)
    axes[2].scatter(x0, ends["kept_clean"], color="0.2", zorder=3, label="clean sentence")
    axes[2].scatter(x0, ends["kept_floor"], facecolor="white", edgecolor="0.2", zorder=3,
                    label="no sentence (full noise)")
    axes[0].axhline(0.0, ls="--", lw=1, color="0.4")
    axes[0].set_ylabel("sharpening: d log2(width) / d log2(n)")
    axes[1].set_ylabel("relative half point (longest n)")
    axes[2].set_ylabel("P(true root) at the ends (longest n)")
    axes[2].set_ylim(0, 1.05)
    for ax in axes:
        ax.set_xticks(x0, labels, fontsize=7)
        ax.set_xlim(-0.6, len(experiments) - 0.4)
    for ax in axes[:2]:
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="best")
    axes[2].legend(fontsize=7, loc="lower left")
    fig.suptitle("Where the class transition sharpens with the sentence length")
    fig.tight_layout()
    return fig
