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

__all__ = ["hierarchy_controls"]

_LABEL = {("rhm_permuted", "bp"): "RHM", ("rhm_permuted", "bp_permuted"): "RHM, leaves permuted",
          ("rhm", "bp"): "RHM", ("random_code", "exact"): "random code"}


def _label(family: str, model: str) -> str:
    return _LABEL.get((family, model), f"{family} ({model})")


def hierarchy_controls(summary: pd.DataFrame, correlations: pd.DataFrame):
    """The figure (module docstring) from :func:`~hierphase.controls.control_summary`'s table
    and the tree-binned correlation tables it was made from. Returns the Figure."""
    need = {"family", "model", "L", "d", "chi_max", "chi_max_lo", "chi_max_hi",
            "class_flip_width", "peak_noise"}
    missing = need - set(summary.columns)
    if missing:
        raise ValueError(f"the summary table lacks the columns {sorted(missing)}")
    if summary.empty:
        raise ValueError("the summary table is empty")
    use_style()
    groups = sorted({(f, m) for f, m in zip(summary["family"], summary["model"])})
    colors = dict(zip(groups, sns.color_palette("colorblind", len(groups))))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
    cor = pool_rule_seeds(leaves(correlations),
                          ["family", "experiment", "model", "L", "noise", "level", "distance"],
                          ["C"])
    for (family, model), g in summary.groupby(["family", "model"], sort=True):
        g = g.sort_values("d")
        c = colors[(family, model)]
        lab = _label(family, model)
        axes[0].errorbar(g["d"], g["chi_max"], yerr=[g["chi_max"] - g["chi_max_lo"],
                                                     g["chi_max_hi"] - g["chi_max"]],
                         marker="o", color=c, label=lab, capsize=2)
        ok = np.isfinite(g["class_flip_width"].astype(float))
        axes[1].plot(g["d"][ok], g["class_flip_width"][ok], marker="o", color=c, label=lab)
        row = g.iloc[-1]  # the largest d of the group
        at = cor[(cor["family"] == family) & (cor["model"] == model) & (cor["L"] == row["L"])
                 & np.isclose(cor["noise"].astype(float), float(row["peak_noise"]))]
        at = at[at["distance"] >= 1].sort_values("distance")
        if not at.empty:
            ratio = at["C"].to_numpy(float) / float(at["C"].iloc[0])
            axes[2].plot(at["distance"], np.where(ratio > 0, ratio, np.nan), marker="o",
                         color=c, label=f"{lab}, d = {int(row['d'])}")
    axes[0].set(xscale="log", xlabel="sites d", ylabel=r"$\chi_{\max}$",
                title="susceptibility at its peak")
    axes[1].set(xscale="log", yscale="log", xlabel="sites d",
                ylabel="class flip width (90% to 10%)", title="sharpness of the class flip")
    axes[2].set(yscale="log", xlabel="tree level k of the common ancestor",
                ylabel=r"$C(k)/C(1)$ at the peak", title="decay across levels")
    for ax in axes:
        ax.legend(fontsize="small")
    return fig
