"""Figures of the images branch: the x0 -> x̂0(t) grid, class kept vs t/T, layer similarity vs t/T,
and the patch change correlations (chi, xi) on the same t/T axis.

Each function takes plain tensors or tidy tables and returns a matplotlib figure; saving is
:func:`hierphase.plots.style.save_figure`'s job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap

from hierphase.plots.style import depth_palette, use_style

if TYPE_CHECKING:  # the image figures take tensors; the curve figures load without torch
    import torch

__all__ = ["image_grid", "samples_figure", "class_kept_figure", "layer_similarity_figure",
           "correlations_figure"]


def _show(ax, image: torch.Tensor) -> None:
    """uint8 (C, H, W) on ``ax``: grey for one channel, RGB for three."""
    img = image.numpy()
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(np.transpose(img, (1, 2, 0)), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def image_grid(clean: torch.Tensor, swept: Sequence[torch.Tensor], t_over_T: Sequence[float],
               n_rows: int = 4, labels: Sequence[str] | None = None):
    """Rows: clean images x0; columns: x0, then x̂0 at each t/T (one uint8 (N, C, H, W) tensor per
    t, same images in the same order). ``labels`` (optional, per image) annotate the rows."""
    use_style()
    n_rows = min(n_rows, clean.shape[0])
    n_cols = 1 + len(swept)
    size = 1.1 if clean.shape[-1] <= 64 else 1.6
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows + 0.4),
                             squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.05})
    for r in range(n_rows):
        _show(axes[r, 0], clean[r])
        for c, images in enumerate(swept, start=1):
            _show(axes[r, c], images[r])
        if labels is not None:
            axes[r, 0].set_ylabel(str(labels[r]), rotation=0, ha="right", va="center")
    axes[0, 0].set_title("$x_0$")
    for c, tt in enumerate(t_over_T, start=1):
        axes[0, c].set_title(f"{tt:.2f}")
    fig.suptitle(r"$\hat{x}_0$ after noising to $t/T$ and denoising back", y=1.0)
    return fig


def samples_figure(images: torch.Tensor, confidence: torch.Tensor, threshold: float = 0.9,
                   n_cols: int = 16, max_images: int = 64):
    """Unconditional samples of the diffusion model, each titled with the classifier's confidence
    (red when not above ``threshold``)."""
    use_style()
    n = min(max_images, images.shape[0])
    n_rows = -(-n // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(0.8 * n_cols, 0.95 * n_rows + 0.4),
                             squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.35})
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        _show(ax, images[i])
        c = float(confidence[i])
        ax.set_title(f"{c:.2f}", fontsize=7, color="black" if c > threshold else "tab:red")
    frac = float((confidence > threshold).float().mean())
    fig.suptitle(f"unconditional samples: {frac:.0%} of {images.shape[0]} with confidence > "
                 f"{threshold:g}", y=1.0)
    return fig


def class_kept_figure(table: pd.DataFrame, n_classes: int | None = None):
    """Probability that the predicted class of x̂0 equals that of x0, vs t/T, with the Wilson 95%
    band; a dotted line at 1/n_classes (the agreement of two unrelated uniform guesses)."""
    use_style()
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    _draw_kept(ax, table, n_classes)
    ax.set_xlabel("$t/T$")
    dataset = table["dataset"].iloc[0] if len(table) else ""
    ax.set_title(str(dataset))
    ax.legend(loc="upper right", fontsize=7)
    return fig


def _draw_kept(ax, table: pd.DataFrame, n_classes: int | None = None) -> None:
    """Class kept vs t/T with its Wilson band, per (model, classifier); 1/n_classes dotted."""
    for (model, clf), g in table.groupby(["model", "classifier"], sort=False):
        g = g.sort_values("t_over_T")
        line, = ax.plot(g["t_over_T"], g["kept"], marker="o", ms=3.5, label=f"{model} / {clf}")
        ax.fill_between(g["t_over_T"], g["ci_low"], g["ci_high"], color=line.get_color(),
                        alpha=0.25, lw=0)
    if n_classes:
        ax.axhline(1.0 / n_classes, ls=":", color="0.4", lw=1)
        ax.annotate(f"1/{n_classes}", (0.02, 1.0 / n_classes), xycoords=("axes fraction", "data"),
                    va="bottom", fontsize=8, color="0.3")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("class kept (probability)")


def _draw_layers(fig, ax, table: pd.DataFrame, inset_colorbar: bool = False) -> None:
    """Layer similarity vs t/T, one line per layer coloured by depth, with a depth colour bar
    (``inset_colorbar``: drawn beside ``ax`` without narrowing it, so that a column of panels
    keeps one x axis)."""
    layers = (table[["depth", "layer"]].drop_duplicates().sort_values("depth"))
    n = len(layers)
    palette = depth_palette(n)
    for (depth, layer), colour in zip(layers.itertuples(index=False), palette):
        g = table[table["layer"] == layer].sort_values("t_over_T")
        ax.plot(g["t_over_T"], g["similarity"], color=colour, lw=1.3,
                marker="o" if n <= 12 else None, ms=2.5)
        ax.fill_between(g["t_over_T"], g["ci_low"], g["ci_high"], color=colour, alpha=0.12, lw=0)
    cmap = ListedColormap(palette)
    norm = BoundaryNorm(np.arange(n + 1) - 0.5, n)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
    if inset_colorbar:
        cbar = fig.colorbar(sm, cax=ax.inset_axes([1.02, 0.0, 0.025, 1.0]))
    else:
        cbar = fig.colorbar(sm, ax=ax, pad=0.02)
    if n <= 12:
        cbar.set_ticks(np.arange(n))
        cbar.set_ticklabels(list(layers["layer"]))
        cbar.ax.tick_params(labelsize=7)
    cbar.set_label("layer depth (shallow -> deep)")
    ax.set_xlim(0, 1.02)
    ax.set_ylabel("cosine similarity of features")


def layer_similarity_figure(table: pd.DataFrame):
    """Mean cosine similarity of standardised hidden features of x0 and x̂0, per layer, vs t/T;
    colour = depth (light shallow -> dark deep), 95% bands."""
    use_style()
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    _draw_layers(fig, ax, table)
    ax.set_xlabel("$t/T$")
    dataset = table["dataset"].iloc[0] if len(table) else ""
    clf = table["classifier"].iloc[0] if len(table) else ""
    ax.set_title(f"{dataset} / {clf}")
    return fig


def correlations_figure(class_kept: pd.DataFrame, layer_similarity: pd.DataFrame,
                        susceptibility: pd.DataFrame, n_classes: int | None = None):
    """One model, four panels on one t/T axis: class kept, layer similarities, the
    susceptibility chi of the patch changes and their correlation length xi (in patches), one
    line per embedding with bootstrap bars; dashed on every panel, the class half-point (where
    class kept falls through 1/2, :func:`hierphase.scaling.class_half_point`), when it has one."""
    from hierphase.scaling import class_half_point

    use_style()
    fig, axes = plt.subplots(4, 1, figsize=(5.4, 9.6), sharex=True,
                             gridspec_kw={"height_ratios": [1, 1, 1.2, 1.2], "hspace": 0.12})
    _draw_kept(axes[0], class_kept, n_classes)
    _draw_layers(fig, axes[1], layer_similarity, inset_colorbar=True)
    axes[0].set_ylabel("class kept")
    axes[1].set_ylabel("layer similarity")
    for embedding, g in susceptibility.groupby("embedding", sort=False):
        g = g.sort_values("t_over_T")
        grid = f"{int(g['grid_h'].iloc[0])}x{int(g['grid_w'].iloc[0])}"
        for ax, col in ((axes[2], "chi"), (axes[3], "xi")):
            err = np.vstack([g[col] - g[f"{col}_lo"], g[f"{col}_hi"] - g[col]]).clip(min=0)
            ax.errorbar(g["t_over_T"], g[col], yerr=err, marker="o", ms=3.5, capsize=2, lw=1.3,
                        label=f"{embedding} ({grid})")
    axes[2].axhline(1.0, ls=":", color="0.4", lw=1)
    axes[2].set_ylabel(r"susceptibility $\chi$")
    axes[3].set_ylabel(r"length $\xi$ (patches)")
    fig.align_ylabels(axes)
    axes[2].legend(loc="best", fontsize=7, title="embedding (grid)", title_fontsize=7)
    axes[3].set_xlabel("$t/T$")
    g = class_kept.sort_values("t_over_T")
    half = class_half_point(g["t_over_T"].to_numpy(), g["kept"].to_numpy()) if len(g) else np.nan
    if np.isfinite(half):
        for ax in axes:
            ax.axvline(half, ls="--", color="0.3", lw=1)
        axes[0].annotate(f"half-point {half:.2f}", (half, 0.5), xytext=(4, 4),
                         textcoords="offset points", fontsize=8, color="0.2")
    dataset = class_kept["dataset"].iloc[0] if len(class_kept) else ""
    model = class_kept["model"].iloc[0] if len(class_kept) else ""
    clf = class_kept["classifier"].iloc[0] if len(class_kept) else ""
    axes[0].set_title(f"{dataset} / {model} / {clf}")
    return fig
