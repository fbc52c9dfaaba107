"""Figures of the change correlations, one function per figure.

Each takes the tidy ``correlations`` and ``susceptibility`` tables (columns in
:mod:`hierphase.correlations`, plus family, experiment, model, process, L, rule_seed, noise,
t_over_T and, for chi, class_kept) and returns a matplotlib Figure; saving is
:func:`hierphase.plots.style.save_figure`'s job. Several rule draws are pooled
(:func:`hierphase.scaling.pool_rule_seeds`). Exact BP (``model == "bp"``) is drawn as points
with their bootstrap 95% intervals, mean-field theory (``model == "mean_field"``), when the
table has it, as lines in the same colours. chi is whatever the tables hold (the full double
sum of :func:`hierphase.correlations.susceptibility` unless the sweep chose ``"upper"``).
Rows the figure needs and does not find raise a ValueError that names them; NaN chi or xi
(no co-fluctuation to weigh) are left out of the drawing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..scaling import (NuFit, class_half_point, collapse_lengths, collapse_quality,
                       fit_power_law, leaves, pool_rule_seeds)
from .style import depth_palette, use_style  # selects the Agg backend before pyplot loads

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

__all__ = ["c_of_r", "chi_vs_noise", "xi_scaling", "collapse", "controls"]

PROCESSES = ("epsilon", "masking", "gaussian")
_PROCESS_LABEL = {"epsilon": r"$\varepsilon$-process", "masking": "masking",
                  "gaussian": "Gaussian DDPM"}
_FAMILY_ORDER = {"rhm": 0, "gaussian_field": 1, "flat_mixture": 2}
_FAMILY_LABEL = {"rhm": "RHM", "gaussian_field": "Gaussian field", "flat_mixture": "flat mixture"}
_GROUP = ["family", "experiment", "model", "process", "L"]


# ----------------------------------------------------------------------------- selection
def _require(df: pd.DataFrame, what: str, **match) -> pd.DataFrame:
    """Rows of ``df`` equal to every ``column=value`` (a list: isin), or a ValueError naming
    the selection and what the table does hold."""
    out = df
    for col, value in match.items():
        if col not in out.columns:
            raise ValueError(f"the {what} table has no column {col!r}")
        if isinstance(value, (list, tuple, set)):
            out = out[out[col].isin(list(value))]
        else:
            out = out[(out[col] == value).fillna(False).astype(bool)]
        if out.empty:
            held = sorted(map(str, df[col].dropna().unique()))
            sel = ", ".join(f"{k}={v!r}" for k, v in match.items())
            raise ValueError(f"the {what} table has no rows with {sel} (no {col}={value!r}; "
                             f"it holds {col} in {held})")
    return out


def _bp_and_theory(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return df[df["model"] == "bp"], df[df["model"] == "mean_field"]


def _pooled_chi(sus: pd.DataFrame) -> pd.DataFrame:
    return pool_rule_seeds(leaves(sus), _GROUP + ["level", "noise"], ["chi", "xi"])


def _pooled_C(cor: pd.DataFrame) -> pd.DataFrame:
    return pool_rule_seeds(cor, _GROUP + ["level", "noise", "distance"], ["C"])


def _largest_L(df: pd.DataFrame):
    Ls = df["L"].dropna().unique()
    return int(max(Ls)) if len(Ls) else pd.NA


def _at_L(df: pd.DataFrame, L) -> pd.DataFrame:
    if pd.isna(L):
        return df[df["L"].isna()]
    return df[(df["L"] == L).fillna(False).astype(bool)]


def _near(values: np.ndarray, target: float) -> float:
    return float(values[np.argmin(np.abs(values - target))])


def _noise_colors(noises: Sequence[float]) -> dict:
    """One colour per noise, dark blue (small) through magenta to orange (large): plasma without
    its palest yellow, spaced by rank so that a few noises stay apart."""
    noises = sorted(noises)
    cmap = sns.color_palette("plasma", as_cmap=True)
    span = max(len(noises) - 1, 1)
    return {n: cmap(0.85 * i / span) for i, n in enumerate(noises)}


def _note_figure(message: str):
    """A figure that only says why there is nothing to draw (wrapped text, no axes)."""
    import textwrap

    fig, ax = plt.subplots(figsize=(6.4, 2.4))
    ax.axis("off")
    ax.text(0.5, 0.5, textwrap.fill(message, 70), ha="center", va="center", fontsize=10,
            transform=ax.transAxes)
    return fig


def _log_axes(ax) -> None:
    """Log-log with plain tick labels: 1, 2, 5 per decade over at most two decades, one label a
    decade beyond; no minor labels."""
    ax.autoscale_view()
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        lo, hi = (max(v, 1e-300) for v in limits)
        subs = (1.0, 2.0, 5.0) if np.log10(hi / lo) <= 2.2 else (1.0,)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _noise_label(process: str) -> str:
    return r"noise $\varepsilon$" if process == "epsilon" else "t / T"


def _noise_symbol(process: str) -> str:
    return r"$\varepsilon$" if process == "epsilon" else "t/T"


def _yerr(df: pd.DataFrame, col: str) -> np.ndarray:
    lo = (df[col] - df[f"{col}_lo"]).clip(lower=0).to_numpy(dtype=float)
    hi = (df[f"{col}_hi"] - df[col]).clip(lower=0).to_numpy(dtype=float)
    return np.nan_to_num(np.vstack([lo, hi]))


def _log_yerr(df: pd.DataFrame, col: str) -> np.ndarray:
    """Error bars on a log axis: the lower end kept above zero (a fifth of the value)."""
    err = _yerr(df, col)
    err[0] = np.minimum(err[0], 0.8 * df[col].to_numpy(dtype=float))
    return err


def _mark_eps_star(ax, eps_star) -> None:
    if eps_star is not None and np.isfinite(eps_star):
        ax.axvline(eps_star, color="crimson", lw=1.0, ls="--")
        ax.text(eps_star, 1.0, r" $\varepsilon^*$" + f" = {eps_star:.3f}", color="crimson",
                ha="left", va="top", fontsize=8, transform=ax.get_xaxis_transform())


def _half_points(ax, g_by_L: dict, colors: dict, process: str) -> list:
    """Dotted vertical line per L where class_kept crosses 1/2; the handles for a legend."""
    handles = []
    for L, g in g_by_L.items():
        if "class_kept" not in g or not g["class_kept"].notna().any():
            continue
        half = class_half_point(g["noise"], g["class_kept"])
        if np.isfinite(half):
            ax.axvline(half, color=colors[L], lw=1.0, ls=":")
            ax.plot([half], [1.0], marker="v", ms=5, color=colors[L], clip_on=False,
                    transform=ax.get_xaxis_transform())
            handles.append(half)
    return handles


def _default_noises(values: Sequence[float], centre: float, n: int = 5) -> list[float]:
    """Up to ``n`` grid noises: the one nearest ``centre``, the two ends, and the rest evenly
    between them on either side (``n = 5``: one between each end and the centre; spread over the
    whole grid when the centre is an end)."""
    values = np.sort(np.unique(np.asarray(values, dtype=float)))
    if len(values) <= n:
        return list(values)
    near = _near(values, centre)
    targets = np.concatenate([np.linspace(values[0], near, (n + 1) // 2),
                              np.linspace(near, values[-1], n // 2 + 1),
                              np.linspace(values[0], values[-1], n)])  # if the centre is an end
    chosen: list[float] = []
    for t in targets:
        c = _near(values, t)
        if c not in chosen and len(chosen) < n:
            chosen.append(c)
    return sorted(chosen)


def _peak_noise(chi: pd.DataFrame) -> float:
    g = chi[chi["chi"].notna()]
    return float(g.loc[g["chi"].idxmax(), "noise"]) if not g.empty else np.nan


def _draw_C(ax, bp: pd.DataFrame, th: pd.DataFrame, noises: Sequence[float], colors: dict,
            emphasis: float | None = None) -> int:
    """C(r), r >= 1, per noise on log-log (rows of one level): BP points with intervals (the
    ``emphasis`` noise ringed in black), mean-field dashed lines. Returns the number of BP points
    with C <= 0 (not drawable on a log axis); with none drawable the axes stay linear."""
    hidden, drawn = 0, 0
    for noise in noises:
        g = bp[np.isclose(bp["noise"], noise) & (bp["r"] >= 1)].sort_values("r")
        pos = g[g["C"] > 0]
        hidden += int((g["C"] <= 0).sum())
        drawn += len(pos)
        ring = emphasis is not None and np.isclose(noise, emphasis)
        ax.errorbar(pos["r"], pos["C"], yerr=_log_yerr(pos, "C"), fmt="o", ms=5 if ring else 4,
                    color=colors[noise], mec="k" if ring else colors[noise], elinewidth=0.8,
                    capsize=1.5, lw=0, zorder=3 if ring else 2)
        match = _match_noise(th["noise"], noise)
        t = th[np.isclose(th["noise"], match, rtol=0, atol=1e-12) & (th["r"] >= 1)
               & (th["C"] > 0)].sort_values("r")
        if not t.empty:
            ax.plot(t["r"], t["C"], color=colors[noise], lw=1.2, ls="--")
            drawn += len(t)
    if drawn:
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_axes(ax)
    return hidden


def _match_noise(theory_noises: pd.Series, noise: float) -> float:
    """The theory grid's noise nearest a BP noise, if within half the theory grid's step (the
    theory runs on its own, usually finer, grid); NaN if none."""
    grid = np.unique(theory_noises.to_numpy(dtype=float))
    if grid.size == 0:
        return np.nan
    nearest = _near(grid, noise)
    half_step = 0.5 * float(np.median(np.diff(grid))) if grid.size > 1 else 0.0
    return nearest if abs(nearest - noise) <= max(half_step, 1e-9) else np.nan


def _noise_handles(noises, colors: dict, sym: str, emphasis: float | None, note: str) -> list:
    return [Line2D([], [], color=colors[n], marker="o", ms=4, lw=0,
                   mec="k" if emphasis is not None and np.isclose(n, emphasis) else colors[n],
                   label=f"{sym} = {n:.3g}" + (f" ({note})" if emphasis is not None
                                               and np.isclose(n, emphasis) else ""))
            for n in noises]


def _hidden_note(ax, hidden: int) -> None:
    if hidden:
        ax.text(0.02, 0.02, f"{hidden} points with C <= 0 not shown", transform=ax.transAxes,
                fontsize=7, color="0.35", ha="left", va="bottom")


# ----------------------------------------------------------------------------- (a) C(r)
def c_of_r(correlations: pd.DataFrame, experiment: str, process: str, L: int | None,
           noises: Sequence[float] | None = None, *, eps_star: float | None = None,
           level: int | None = None):
    """C(r) against r on log-log at several noises, leaves (``level`` = L unless given).

    BP points with bootstrap 95% intervals; mean-field dashed lines (when the table has them) in
    the same colours, at the theory grid's noise nearest each BP noise (within half its step). ``noises`` default: five grid values from the smallest to
    the largest through the one nearest ``eps_star`` (or, without it, the noise with the largest
    summed ``C(r) / C(0)``, r >= 1, a proxy for the susceptibility peak); that one is ringed in
    black. Colours run from dark blue (small noise) to orange (large). ``L=None`` for a lattice
    without depth.
    """
    use_style()
    df = _require(correlations, "correlations", experiment=experiment, process=process)
    df = _at_L(df, L)
    if df.empty:
        raise ValueError(f"the correlations table has no rows with experiment={experiment!r}, "
                         f"process={process!r}, L={L!r}")
    if level is None:
        df = leaves(df)
        level = df["level"].iloc[0]
    else:
        df = df[(df["level"] == level).fillna(False).astype(bool)]
    bp, th = _bp_and_theory(_pooled_C(df))
    if bp.empty:
        raise ValueError(f"no BP rows (model == 'bp') for experiment={experiment!r}, "
                         f"process={process!r}, L={L!r}, level={level!r}")
    grid = np.sort(bp["noise"].unique())
    if eps_star is not None and np.isfinite(eps_star):
        centre, note = eps_star, r"nearest $\varepsilon^*$"
    else:
        score = bp[bp["r"] >= 1].groupby("noise")["C"].sum() / bp[bp["r"] == 0].set_index(
            "noise")["C"]
        centre = float(score.idxmax()) if score.notna().any() else float(np.median(grid))
        note = r"largest $\Sigma_r C(r)/C(0)$"
    if noises is None:
        noises = _default_noises(grid, centre)
    else:
        missing = [n for n in noises if not np.isclose(grid, n).any()]
        if missing:
            raise ValueError(f"noises {missing} are not on the BP grid of experiment="
                             f"{experiment!r}, process={process!r}, L={L!r}: {list(grid)}")
        noises = [_near(grid, n) for n in noises]
    colors = _noise_colors(noises)
    emphasis = _near(np.asarray(noises, dtype=float), centre)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    hidden = _draw_C(ax, bp, th, noises, colors, emphasis)
    _hidden_note(ax, hidden)
    handles = _noise_handles(noises, colors, _noise_symbol(process), emphasis, note)
    handles.append(Line2D([], [], color="0.3", marker="o", ms=4, lw=0, label="BP (95% CI)"))
    if not th.empty:
        handles.append(Line2D([], [], color="0.3", lw=1.2, ls="--", label="mean field"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    where = "leaves" if pd.isna(level) or level == L else f"level {level}"
    ax.set(xlabel="distance r", ylabel="C(r)")
    ax.set_title(f"{experiment}, {_PROCESS_LABEL.get(process, process)}, "
                 + (f"L = {L}, " if L is not None and not pd.isna(L) else "") + where, fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- (b) chi
def _draw_chi(ax, chi: pd.DataFrame, colors: dict, theory: bool = True) -> None:
    bp, th = _bp_and_theory(chi)
    for L, g in bp.groupby("L", dropna=False, sort=True):
        key = None if pd.isna(L) else int(L)
        g = g[g["chi"].notna()].sort_values("noise")
        ax.errorbar(g["noise"], g["chi"], yerr=_yerr(g, "chi"), fmt="o-", ms=3.5, lw=0.9,
                    color=colors[key], elinewidth=0.8, capsize=1.5)
    if theory and not bp.empty:
        lo, hi = bp["noise"].min(), bp["noise"].max()  # theory only over the measured range
        for L, g in th.groupby("L", dropna=False, sort=True):
            key = None if pd.isna(L) else int(L)
            g = g[g["chi"].notna() & g["noise"].between(lo - 1e-9, hi + 1e-9)].sort_values("noise")
            if key in colors:
                ax.plot(g["noise"], g["chi"], color=colors[key], lw=1.2, ls="--")


def _L_colors(Ls) -> dict:
    keys = sorted({None if pd.isna(L) else int(L) for L in Ls}, key=lambda x: (x is None, x or 0))
    return dict(zip(keys, depth_palette(len(keys))))


def chi_vs_noise(susceptibility: pd.DataFrame, experiment: str, eps_star: float | None):
    """chi (leaves) against noise, one panel per process, colour = L: BP points with bootstrap
    95% intervals joined by thin lines, mean-field chi dashed (epsilon process, when present),
    eps* marked; for the time processes, a dotted line and a triangle per L at the t/T where
    the class kept (BP posterior samples) crosses 1/2, interpolated between grid points."""
    use_style()
    df = _pooled_chi(_require(susceptibility, "susceptibility", experiment=experiment))
    if not (df["model"] == "bp").any():
        raise ValueError(f"no BP rows (model == 'bp') for experiment={experiment!r}")
    if not df["chi"].notna().any():
        raise ValueError(f"every chi of experiment={experiment!r} is NaN: nothing to draw")
    processes = [p for p in PROCESSES if (df["process"] == p).any()]
    processes += sorted(set(df["process"]) - set(processes))
    colors = _L_colors(df["L"])
    fig, axes = plt.subplots(1, len(processes), figsize=(4.4 * len(processes) + 0.6, 3.8),
                             squeeze=False, sharey=True)
    halves = False
    for ax, process in zip(axes[0], processes):
        g = df[df["process"] == process]
        _draw_chi(ax, g, colors)
        if process == "epsilon":
            _mark_eps_star(ax, eps_star)
        else:
            bp = g[g["model"] == "bp"]
            by_L = {None if pd.isna(L) else int(L): h.sort_values("noise")
                    for L, h in bp.groupby("L", dropna=False)}
            halves |= bool(_half_points(ax, by_L, colors, process))
        ax.set(xlabel=_noise_label(process))
        ax.set_title(_PROCESS_LABEL.get(process, process), fontsize=10)
    axes[0][0].set_ylabel(r"susceptibility $\chi$ (leaves)")
    handles = [Line2D([], [], color=c, marker="o", ms=4, lw=1, label=f"L = {L}")
               for L, c in colors.items()]
    handles.append(Line2D([], [], color="0.3", marker="o", ms=4, lw=0, label="BP (95% CI)"))
    if (df["model"] == "mean_field").any():
        handles.append(Line2D([], [], color="0.3", ls="--", label="mean field"))
    if halves:
        handles.append(Line2D([], [], color="0.3", ls=":", marker="v", ms=5,
                              label="class kept = 1/2"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(f"Susceptibility, {experiment}", fontsize=11)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- (c) xi
def xi_scaling(susceptibility: pd.DataFrame, experiment: str, eps_star: float,
               fit: NuFit | Mapping[int, NuFit] | None, *, nu_mean_field: float | None = None,
               process: str = "epsilon", lengths: pd.DataFrame | None = None):
    """xi (leaves) against |eps - eps*| on log-log, below eps* (left) and above (right), colour
    = L; BP points with bootstrap intervals, mean-field xi as dashed lines when present. ``fit``: a
    :class:`hierphase.scaling.NuFit` (or one per L) drawn as a black (or L-coloured) line of
    slope -nu over the fitted range, its nu and error in the legend; ``nu_mean_field`` (e.g.
    ``theory.nu(32, 8, 2)`` = 1.893) as a grey dotted line of that slope through the middle of
    the fitted line (without a fit on that side: through the geometric mean of the deepest
    L's points), for comparison. ``fit`` keyed ``None`` (the joint fit of
    :func:`hierphase.scaling.nu_fits`) is drawn in black.

    ``lengths``: the collapse lengths of :func:`hierphase.scaling.collapse_length_table` for
    this experiment and process; when given they are drawn instead of the table's second-moment
    xi (which on a tree is dominated by the noise floor at the largest distances), saturated
    ones (xi beyond the largest distance) left out, and the mean-field second-moment xi is not
    drawn (another definition of the length)."""
    use_style()
    if eps_star is None or not np.isfinite(eps_star):
        raise ValueError(f"xi_scaling needs a finite eps_star for experiment={experiment!r}, "
                         f"got {eps_star!r}")
    df = _pooled_chi(_require(susceptibility, "susceptibility", experiment=experiment,
                              process=process))
    if lengths is not None:
        df = lengths[~lengths["saturated"].astype(bool)].assign(model="bp")
    df = df.assign(delta=(df["noise"] - eps_star).abs())
    df = df[df["xi"].notna() & (df["delta"] > 0)]
    bp, th = _bp_and_theory(df)
    if bp.empty:  # e.g. trees too shallow for a length: say so on the figure, not as a failure
        return _note_figure(f"xi against |eps - eps*|, {experiment}: no BP rows with a finite "
                            f"xi for process={process!r} (too few distances or too little "
                            "signal to fit a correlation length)")
    colors = _L_colors(df["L"])
    fits = fit if isinstance(fit, Mapping) else ({None: fit} if fit is not None else {})
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.0), sharey=True)
    for ax, side in zip(axes, ("below", "above")):
        pick = (lambda d: d[d["noise"] < eps_star]) if side == "below" else \
            (lambda d: d[d["noise"] > eps_star])
        for L, g in pick(bp).groupby("L", dropna=False, sort=True):
            key = None if pd.isna(L) else int(L)
            g = g.sort_values("delta")
            ax.errorbar(g["delta"], g["xi"], yerr=_log_yerr(g, "xi"), fmt="o", ms=4,
                        color=colors[key], elinewidth=0.8, capsize=1.5)
        measured = pick(bp)["delta"]
        for L, g in pick(th).groupby("L", dropna=False, sort=True):
            key = None if pd.isna(L) else int(L)
            if key in colors and not measured.empty:
                g = g[g["delta"].between(measured.min() - 1e-9, measured.max() + 1e-9)].sort_values("delta")
                ax.plot(g["delta"], g["xi"], color=colors[key], lw=1.1, ls="--")
        anchor = None  # (delta range, a point) the mean-field slope is drawn through
        for L, f in fits.items():
            amp = f.amplitude_below if side == "below" else f.amplitude_above
            if not (np.isfinite(f.nu) and np.isfinite(amp)):
                continue
            d = np.geomspace(*f.delta_range, 20)
            color = "k" if L is None else colors.get(L, "k")
            ax.plot(d, amp * d**-f.nu, color=color, lw=1.8)
            mid = np.sqrt(f.delta_range[0] * f.delta_range[1])
            anchor = (f.delta_range, (mid, amp * mid**-f.nu))
        if anchor is None and not pick(bp).empty:  # no fit on this side: through the data
            deep = pick(bp)[pick(bp)["L"].astype("Float64") == pick(bp)["L"].max()] \
                if pick(bp)["L"].notna().any() else pick(bp)
            lo, hi = float(deep["delta"].min()), float(deep["delta"].max())
            if hi > lo:
                mid = np.sqrt(lo * hi)
                anchor = ((lo, hi), (mid, float(np.exp(np.log(deep["xi"]).mean()))))
        if nu_mean_field is not None and np.isfinite(nu_mean_field) and anchor is not None:
            d = np.geomspace(*anchor[0], 20)
            (mid, y_mid) = anchor[1]
            ax.plot(d, y_mid * (d / mid) ** -nu_mean_field, color="0.5", lw=1.2, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_axes(ax)
        ax.set_xlabel(r"$\varepsilon^* - \varepsilon$" if side == "below"
                      else r"$\varepsilon - \varepsilon^*$")
        ax.set_title(f"{side} " + r"$\varepsilon^*$" + f" = {eps_star:.4g}", fontsize=10)
    axes[0].set_ylabel(r"correlation length $\xi$ (leaves"
                       + (", collapse)" if lengths is not None else ", second moment)"))
    handles = [Line2D([], [], color=c, marker="o", ms=4, lw=0, label=f"L = {L}")
               for L, c in colors.items()]
    handles.append(Line2D([], [], color="0.3", marker="o", ms=4, lw=0, label="BP (95% CI)"))
    if not th.empty:
        handles.append(Line2D([], [], color="0.3", lw=1.1, ls="--", label="mean field"))
    for L, f in fits.items():
        if np.isfinite(f.nu):
            who = "" if L is None else f" (L = {L})"
            handles.append(Line2D([], [], color="k" if L is None else colors.get(L, "k"), lw=1.8,
                                  label=rf"fit{who}: $\nu$ = {f.nu:.2f} $\pm$ {f.err:.2f}"))
    if nu_mean_field is not None and np.isfinite(nu_mean_field):
        handles.append(Line2D([], [], color="0.5", ls=":",
                              label=rf"slope $-\nu_{{MF}}$, $\nu_{{MF}}$ = {nu_mean_field:.3f}"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(rf"Correlation length vs distance to $\varepsilon^*$, {experiment}", fontsize=11)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- (d) collapse
def collapse(correlations: pd.DataFrame, susceptibility: pd.DataFrame, experiment: str, *,
             eps_star: float | None = None, process: str = "epsilon", L: int | None = None,
             a: float | None = None, noises: Sequence[float] | None = None,
             lengths: pd.DataFrame | None = None):
    """Scaling collapse of C(r) at the leaves of one depth ``L`` (default the largest).

    Near the critical point ``C(r) = r**-a G(r / xi)``: a power law cut off at the correlation
    length. So ``C(r) r**a`` against ``r / xi`` falls on one curve ``G`` for every noise (one
    branch below eps*, circles, one above, triangles). ``C(r) / C(0)`` against ``r / xi`` would
    collapse only if ``a = 0``, which the tree does not have, so the figure uses ``r**a``.
    ``a``: given, or fitted (:func:`hierphase.scaling.fit_power_law`) at the chi peak.
    Left: C(r) as measured; right: the rescaled curves, with
    :func:`hierphase.scaling.collapse_quality` (log-log, weighted by the intervals) in the title.
    ``noises``: default every BP noise with a finite xi. Points with C <= 0 are not drawn.

    ``C(r) r**a`` is divided by the amplitude ``B`` of each noise and drawn over
    ``exp(-r / xi)`` (dashed). xi (and B) are the collapse lengths (:func:`hierphase.scaling.collapse_lengths` with this ``a``; the
    susceptibility table's second-moment xi is dominated by the noise floor on a tree), or
    the rows of ``lengths`` at this ``L`` (:func:`hierphase.scaling.collapse_length_table`,
    with their bootstrap) when given."""
    use_style()
    cor = _require(correlations, "correlations", experiment=experiment, process=process)
    sus = _require(susceptibility, "susceptibility", experiment=experiment, process=process)
    cor, sus = cor[cor["model"] == "bp"], sus[sus["model"] == "bp"]
    if cor.empty or sus.empty:
        raise ValueError(f"no BP rows (model == 'bp') for experiment={experiment!r}, "
                         f"process={process!r} in the "
                         + ("correlations" if cor.empty else "susceptibility") + " table")
    L = _largest_L(cor) if L is None else L
    cor, chi = _pooled_C(leaves(_at_L(cor, L))), _pooled_chi(_at_L(sus, L))
    if cor.empty or chi.empty:
        raise ValueError(f"no BP leaf rows at L={L!r} for experiment={experiment!r}, "
                         f"process={process!r}")
    if a is None:
        peak = _peak_noise(chi)
        at = cor[np.isclose(cor["noise"], peak)]
        pl = fit_power_law(at["r"], at["C"], at["C_lo"], at["C_hi"])
        a, a_note = pl.exponent, rf"a = {pl.exponent:.2f} $\pm$ {pl.err:.2f} (fit at the $\chi$ peak)"
    else:
        a_note = f"a = {a:.3g}"
    if not np.isfinite(a):
        raise ValueError(f"no power-law exponent a for the collapse of experiment={experiment!r}: "
                         "the fit at the chi peak had fewer than two points with C > 0")
    if lengths is None:
        fitted = collapse_lengths(cor, a=a, n_boot=0).set_index("noise")
    else:
        fitted = _at_L(lengths, L).set_index("noise")
    xi, amplitude = fitted["xi"], fitted["amplitude"]
    finite = sorted(float(n) for n in xi[xi.notna() & (xi > 0)].index)
    if noises is None:
        noises = finite
    off_grid = [n for n in noises if not np.isclose(xi.index.to_numpy(dtype=float), n).any()]
    if off_grid:
        raise ValueError(f"noises {off_grid} are not on the BP grid of experiment={experiment!r}, "
                         f"process={process!r}, L={L!r}: {sorted(xi.index)}")
    noises = [_near(np.asarray(finite), n) for n in noises
              if any(np.isclose(n, f) for f in finite)]
    if not noises:  # e.g. trees too shallow for a length: say so on the figure
        return _note_figure(f"collapse of C(r), {experiment}: no noise with a finite xi for "
                            f"process={process!r}, L={L!r} (too few distances or too little "
                            "signal to fit a correlation length)")
    centre = eps_star if eps_star is not None and np.isfinite(eps_star) else _peak_noise(chi)
    colors = _noise_colors(noises)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.0))
    curves, hidden = [], 0
    for n in noises:
        g = cor[np.isclose(cor["noise"], n) & (cor["r"] >= 1)].sort_values("r")
        hidden += int((g["C"] <= 0).sum())
        g = g[g["C"] > 0]
        marker = "o" if n <= centre else "^"
        left.errorbar(g["r"], g["C"], yerr=_log_yerr(g, "C"), fmt=marker + "-", ms=3.5, lw=0.8,
                      color=colors[n], elinewidth=0.7, capsize=1.2)
        at = xi.index[np.isclose(xi.index, n)][0]
        x = g["r"] / float(xi.loc[at])
        y = g["C"] * g["r"] ** a / float(amplitude.loc[at])
        dy = (g["C_hi"] - g["C_lo"]) / (2 * 1.96) * g["r"] ** a / float(amplitude.loc[at])
        right.plot(x, y, marker + "-", ms=3.5, lw=0.8, color=colors[n])
        curves.append((x.to_numpy(), y.to_numpy(), dy.to_numpy()))
    quality = collapse_quality(curves)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_axes(ax)
    _hidden_note(left, hidden)
    left.set(xlabel="distance r", ylabel="C(r)")
    left.set_title(f"leaves, L = {L}", fontsize=10)
    right.set(xlabel=r"$r / \xi$", ylabel=rf"$C(r)\, r^{{a}} / B$")
    x_line = np.geomspace(1e-3, 10, 100)
    right.plot(x_line, np.exp(-x_line), color="k", lw=1.2, ls="--", label=r"$e^{-r/\xi}$")
    right.set_title(f"{a_note}; collapse S = {quality.score:.2g}", fontsize=9)
    sym = _noise_symbol(process)
    handles = [Line2D([], [], color=colors[n], marker="o" if n <= centre else "^", ms=4, lw=0.8,
                      label=f"{sym} = {n:.3g}") for n in noises]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               ncol=1 if len(noises) <= 14 else 2)
    fig.suptitle(rf"Collapse $C(r) = r^{{-a}} G(r/\xi)$, {experiment}, "
                 f"{_PROCESS_LABEL.get(process, process)}", fontsize=11)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- (e) controls
def controls(susceptibility: pd.DataFrame, correlations: pd.DataFrame, *,
             experiments: Sequence[str] | None = None,
             eps_star: Mapping[str, float | None] | None = None,
             process: Mapping[str, str] | None = None, n_noises: int = 3):
    """The hierarchy beside its controls: one row per experiment (RHM ones first, then the
    Gaussian field, then the flat mixture; ``experiments`` to choose and order them), each with
    chi against noise (left; colour = L, the class half-point as a dotted line and triangle
    where there is a class, eps* dashed where ``eps_star`` gives one) and C(r) at the leaves of
    the largest L at ``n_noises`` noises (right; 3: the smallest, the chi peak, the largest).

    ``process``: experiment -> process to draw; default the first of epsilon, masking,
    gaussian that the experiment has. Works with any subset of families present."""
    use_style()
    sus = _pooled_chi(susceptibility[susceptibility["model"] == "bp"])
    cor = correlations[correlations["model"] == "bp"]
    if sus.empty:
        raise ValueError("the susceptibility table has no BP rows (model == 'bp')")
    if experiments is None:
        pairs = sus[["family", "experiment"]].drop_duplicates()
        pairs = pairs.assign(o=pairs["family"].map(_FAMILY_ORDER).fillna(9),
                             main=pairs["experiment"] != "main").sort_values(
            ["o", "main", "experiment"])
        experiments = list(pairs["experiment"])
    else:
        missing = [e for e in experiments if not (sus["experiment"] == e).any()]
        if missing:
            raise ValueError(f"the susceptibility table has no BP rows for experiments {missing}; "
                             f"it holds {sorted(sus['experiment'].unique())}")
    fig, axes = plt.subplots(len(experiments), 2, figsize=(11.0, 3.3 * len(experiments)),
                             squeeze=False)
    for (ax_chi, ax_C), exp in zip(axes, experiments):
        e = sus[sus["experiment"] == exp]
        have = list(e["process"].unique())
        proc = (process or {}).get(exp) or next((p for p in PROCESSES if p in have), have[0])
        e = _require(e, "susceptibility", process=proc)
        family = str(e["family"].iloc[0])
        colors = _L_colors(e["L"])
        _draw_chi(ax_chi, e, colors, theory=False)
        by_L = {None if pd.isna(L) else int(L): h.sort_values("noise")
                for L, h in e.groupby("L", dropna=False)}
        half = _half_points(ax_chi, by_L, colors, proc)
        star = (eps_star or {}).get(exp)
        if proc == "epsilon":
            _mark_eps_star(ax_chi, star)
        tree = family == "rhm"
        ax_chi.set(xlabel=_noise_label(proc), ylabel=r"$\chi$" + (" (leaves)" if tree else ""))
        L_handles = [Line2D([], [], color=col, marker="o", ms=4, lw=1, label=f"L = {L_}")
                     for L_, col in colors.items() if L_ is not None]
        if half:
            L_handles.append(Line2D([], [], color="0.3", ls=":", marker="v", ms=5,
                                    label="class kept = 1/2"))
        if L_handles:
            ax_chi.legend(handles=L_handles, fontsize=8, loc="best")
        Ls = ", ".join("L = " + str(L) for L in colors if L is not None)
        ax_chi.set_title(f"{_FAMILY_LABEL.get(family, family)}: {exp}, "
                         f"{_PROCESS_LABEL.get(proc, proc)}" + (f" ({Ls})" if Ls else "")
                         + ("" if half or not e["class_kept"].notna().any()
                            else "; class never halves"), fontsize=9)
        # C(r) at the largest L
        c = cor[(cor["experiment"] == exp) & (cor["process"] == proc)]
        L = _largest_L(e)
        c = _pooled_C(leaves(_at_L(c, L)))
        if c.empty:
            ax_C.text(0.5, 0.5, f"no correlations rows for {exp}, {proc}", ha="center",
                      transform=ax_C.transAxes, fontsize=9)
            ax_C.set_axis_off()
            continue
        chi_L = e[e["L"].isna()] if pd.isna(L) else e[(e["L"] == L).fillna(False).astype(bool)]
        grid = np.sort(c["noise"].unique())
        peak = _peak_noise(chi_L)
        chosen = _default_noises(grid, peak if np.isfinite(peak) else float(np.median(grid)),
                                 max(int(n_noises), 1))
        n_colors = _noise_colors(chosen)
        emphasis = peak if np.isfinite(peak) else None
        hidden = _draw_C(ax_C, c, c.iloc[:0], chosen, n_colors, emphasis)
        _hidden_note(ax_C, hidden)
        ax_C.legend(handles=_noise_handles(chosen, n_colors, _noise_symbol(proc), emphasis,
                                           r"$\chi$ peak"),
                    fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax_C.set(xlabel="distance r", ylabel="C(r)" + (" (leaves)" if tree else ""))
        ax_C.set_title("C(r)" + ("" if pd.isna(L) else f", L = {L}"), fontsize=9)
    fig.suptitle("Change correlations: the hierarchy and its controls (exact denoising)",
                 fontsize=11)
    fig.tight_layout()
    return fig
