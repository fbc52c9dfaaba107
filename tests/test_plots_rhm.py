"""The RHM branch's time figure labels each panel with what it plots: the class for every depth
on the left, every level of one tree on the right."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from hierphase.plots.rhm import time_views  # noqa: E402
from hierphase.tables import KEPT_COLUMNS  # noqa: E402


def kept_table(process: str, depths=(2, 3), n_t: int = 5) -> pd.DataFrame:
    """A kept table in the pipeline's layout: every level kept with probability 1 - t/T."""
    rows = []
    for L in depths:
        for level in range(L + 1):
            for i in range(n_t):
                frac = i / (n_t - 1)
                rows.append({"experiment": "main", "model": "bp", "process": process, "L": L,
                             "rule_seed": 0, "level": level, "noise": frac, "t": i,
                             "t_over_T": frac, "kept_marginal": 1 - frac, "kept_sampled": 1 - frac,
                             "ci_low": max(0.0, 0.9 - frac), "ci_high": min(1.0, 1.1 - frac),
                             "n": 100})
    return pd.DataFrame(rows, columns=KEPT_COLUMNS)


def test_time_views_labels_each_panel_with_what_it_shows():
    fig = time_views(kept_table("masking"), "masking", [2, 3], 3, n_classes=4)
    fig.canvas.draw()
    left, right = fig.axes[:2]
    shown = [(ax.get_ylabel(), ax.yaxis.label.get_visible()) for ax in (left, right)]
    assert shown == [("P(class kept)", True), ("P(latent kept)", True)]
    assert all(label.get_visible() for label in right.get_yticklabels())
