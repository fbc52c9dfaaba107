"""Figures of the MDLM branch: on a grammar, what the MDLMs keep and their chi beside the exact
posterior's; on text, chi and xi against t/T for the MDLM and its controls, with the follow-up
study's reported values marked. Every function takes the rows to draw (the figure glue selects
them) and returns the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hierphase.plots.style import depth_palette, use_style

__all__ = ["grammar_kept", "grammar_chi", "text_chi", "text_xi", "TEXT_LABELS", "TEXT_COLORS"]

EXACT_COLOR = "black"
TEXT_LABELS = {"mdlm": "MDLM", "shuffled": "MDLM, shuffled passages",
               "ngram": "n-gram (exact)", "published": "published MDLM"}
TEXT_COLORS = {"mdlm": "#1f5f99", "shuffled": "#7f7f7f", "ngram": "#c0562b",
               "published": "#2c8c4a"}
T_LABEL = "masked fraction t/T"


def _denoisers(rows: pd.DataFrame) -> list[tuple[str, int, str, str]]:
    """(model, P, label, colour) of every denoiser in the rows: the MDLMs by P (light: small),
    then the exact posterior."""
    Ps = sorted(int(P) for P in rows.loc[rows["model"] == "mdlm", "P"].unique())
    colors = dict(zip(Ps, depth_palette(len(Ps)))) if Ps else {}
    out = [("mdlm", P, f"MDLM, P = {P}", colors[P]) for P in Ps]
    if (rows["model"] == "exact").any():
        out.append(("exact", 0, "exact (inside-outside)", EXACT_COLOR))
    return out


def _finish(fig, ax, ylabel: str, title: str):
    """One panel against t/T: its labels, the legend beside it, the title."""
    ax.set_xlabel(T_LABEL)
    ax.set_ylabel(ylabel)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _band(ax, x, y, lo, hi, color, label, style="-o"):
    ax.plot(x, y, style, ms=3.5, color=color, label=label)
    ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)


def grammar_kept(kept: pd.DataFrame, min_grammatical: float | None = None):
    """Left: the class kept (posterior probability of the true root given the sample) against
    t/T for every MDLM and the exact posterior, with 95% intervals; right: the fraction of
    samples the grammar parses, with Wilson intervals (dotted: the acceptance threshold)."""
    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.6))
    for obs, ax, ylabel in (("class", axes[0], "class (root) kept"),
                            ("grammatical", axes[1], "grammatical fraction")):
        part = kept[kept["observable"] == obs]
        for model, P, label, color in _denoisers(part):
            c = part[(part["model"] == model) & (part["P"] == P)].sort_values("level")
            _band(ax, c["level"], c["value"], c["lo"], c["hi"], color, label,
                  "--s" if model == "exact" else "-o")
        ax.set_xlabel(T_LABEL)
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
    if min_grammatical is not None:
        axes[1].axhline(min_grammatical, color="0.4", ls=":", lw=1)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle("MDLMs on a grammar's sentences beside its exact posterior")
    fig.tight_layout()
    return fig


def grammar_chi(chi: pd.DataFrame):
    """chi of the change spins against t/T for every MDLM and the exact posterior on the same
    noisy sentences, with bootstrap intervals over the x0."""
    use_style()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for model, P, label, color in _denoisers(chi):
        c = chi[(chi["model"] == model) & (chi["P"] == P)].sort_values("level")
        _band(ax, c["level"], c["chi"], c["chi_lo"], c["chi_hi"], color, label,
              "--s" if model == "exact" else "-o")
    return _finish(fig, ax, r"$\chi$", "susceptibility of the changes, MDLMs and exact")


def _models(rows: pd.DataFrame) -> list[str]:
    return [m for m in TEXT_LABELS if m in set(rows["model"])]


def text_chi(chi: pd.DataFrame, peak_t: tuple[float, float], peak_R: int):
    """One panel per cutoff (chi summed over r <= R, and over every pair): chi against t/T for
    every model with its bootstrap interval over passages; shaded on the panel R = ``peak_R``,
    the range ``peak_t`` where the follow-up reports chi's peak."""
    use_style()
    cutoffs = chi[["R", "cutoff"]].drop_duplicates().sort_values("R")
    fig, axes = plt.subplots(1, len(cutoffs), figsize=(3.3 * len(cutoffs) + 1.6, 3.3),
                             squeeze=False)
    for ax, (R, cutoff) in zip(axes[0], cutoffs.itertuples(index=False)):
        part = chi[chi["R"] == R]
        for model in _models(part):
            c = part[part["model"] == model].sort_values("t")
            _band(ax, c["t"], c["chi"], c["chi_lo"], c["chi_hi"], TEXT_COLORS[model],
                  TEXT_LABELS[model])
        if np.isfinite(R) and int(R) == int(peak_R):
            ax.axvspan(*peak_t, color="#f2c14e", alpha=0.3, lw=0,
                       label="follow-up: peak")
        ax.set_title(cutoff.replace("<=", r"$\leq$ "))
        ax.set_xlabel(T_LABEL)
    axes[0][0].set_ylabel(r"$\chi$")
    handles = {}
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    axes[0][-1].legend(handles.values(), handles.keys(), loc="center left",
                       bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle("text: susceptibility of the changes by distance cutoff")
    fig.tight_layout()
    return fig


def text_xi(chi: pd.DataFrame, xi_max: tuple[float, float], xi_t: float):
    """xi (tokens, from every pair) against t/T for every model with its bootstrap interval; the
    follow-up's reported xi (``xi_max`` near t/T = ``xi_t``) as a marked bar."""
    use_style()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    part = chi[~np.isfinite(chi["R"])]
    for model in _models(part):
        c = part[part["model"] == model].sort_values("t")
        _band(ax, c["t"], c["xi"], c["xi_lo"], c["xi_hi"], TEXT_COLORS[model], TEXT_LABELS[model])
    ax.errorbar([xi_t], [sum(xi_max) / 2], yerr=[[(xi_max[1] - xi_max[0]) / 2]], fmt="*",
                ms=11, color="#d4a017", capsize=4, label="follow-up (published MDLM)")
    return _finish(fig, ax, r"correlation length $\xi$ (tokens)",
                   "text: correlation length of the changes")
