"""The one place for the figures' look, and atomic saving of PNG + PDF pairs."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from hierphase.io import atomic_path  # noqa: E402

__all__ = ["use_style", "depth_palette", "save_figure"]


def use_style() -> None:
    """Seaborn's ticks theme in paper context, deterministic PDF output."""
    sns.set_theme(context="paper", style="ticks", font_scale=1.2)
    plt.rcParams.update({
        "figure.dpi": 120,
        "savefig.dpi": 200,
        "savefig.bbox": "tight",
        "pdf.fonttype": 42,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
    })


def depth_palette(n: int):
    """``n`` colours from shallow (light) to deep (dark): levels of a tree or layers of a network."""
    return sns.color_palette("viridis_r", n_colors=max(n, 1))


def save_figure(fig, *paths: str | os.PathLike) -> None:
    """Save ``fig`` to every path (format from the suffix), atomically, then close it."""
    for path in paths:
        fmt = Path(path).suffix.lstrip(".")
        with atomic_path(path) as tmp:
            metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None} if fmt == "png" else None
            fig.savefig(tmp, format=fmt, metadata=metadata)
    plt.close(fig)
