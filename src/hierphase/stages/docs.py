"""The numbers the docs quote, read from a run's tables and written into the docs' templates.

Each number (or row of numbers) the docs quote from a run comes from one small function of the
tables in :data:`NUMBERS`, which returns it already formatted (strings, lists and dicts of
strings; ``"n/a"`` where the table holds no value). :func:`extract_numbers` calls all of them on
the tables of a run; :func:`render` fills a Jinja2 template (``docs/templates/*.md``) with the
result; :func:`render_docs`, what the workflow's ``docs_results`` rule calls, writes the filled
pages and the numbers as JSON beside them. The committed ``docs/numbers.json`` is that JSON for
the default run, and ``tests/test_docs_numbers.py`` checks that the committed pages are the
templates filled with it.

The tables, by the names the functions use (:data:`DOCS_TABLES`; their paths come from the plan,
``hierphase.plan.docs``): the RHM branch's kept table, mean-field tables (``theory``: one per
depth, read as one) and summary, finite-size scaling
(``scaling``, ``scaling_points``), change-correlation ``exponents``, ``level_exponents`` (per
tree level) and ``signature`` (the RHM beside its controls), the depth estimate
(``depth_estimates``, ``depth_calibration``), the critical point's ``population``
dynamics, its effective nu over windows of depths (``local_exponents``) and from its class
curves' widths (``width_exponents``), its estimates side by
side (``critical``) and exact BP against it RHM by RHM (``same_rules``), and the
``phase_diagram``; the learned branch's ``evaluation``, ``distance``, ``validity``,
``sample_complexity``, ``learning_curve`` and change correlations (``chi_distance``,
``learned_susceptibility``); the images branch's ``quality``, ``class_kept``,
``layer_similarity`` and ``patch_susceptibility``; the MDLM branch's grammar comparison with the
exact posterior (``mdlm_gap``) and its text protocol's peaks (``mdlm_peaks``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

__all__ = ["DOCS_TABLES", "NUMBERS", "extract_numbers", "render", "render_docs",
           "template_names", "fmt", "fmt_pm", "fmt_signed"]

#: The tables the numbers are read from, by name (the keys of the ``tables`` mapping every
#: function here takes).
DOCS_TABLES = ("kept", "theory", "theory_summary", "scaling", "scaling_points", "exponents",
               "level_exponents", "signature", "depth_estimates", "depth_calibration",
               "population", "critical", "local_exponents", "width_exponents", "same_rules",
               "phase_diagram",
               "evaluation", "distance", "validity", "sample_complexity",
               "learning_curve", "chi_distance", "learned_susceptibility", "quality",
               "class_kept", "layer_similarity", "patch_susceptibility", "mdlm_gap",
               "mdlm_peaks")

#: What a number prints as where the table has none (NaN, a fit that did not converge).
MISSING = "n/a"


# ------------------------------------------------------------------------------ formatting
def fmt(value: Any, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or :data:`MISSING` where it is None or NaN."""
    if not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be a non-negative int, got {digits!r}")
    from pandas import isna

    if value is None or (not isinstance(value, str) and isna(value)):
        return MISSING
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"value must be a number, got {value!r}") from None
    if math.isnan(number):
        return MISSING
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return f"{number:.{digits}f}"


def fmt_pm(value: Any, err: Any, digits: int = 3) -> str:
    """``value ± err`` with ``digits`` decimals each; the value alone where the error is missing,
    :data:`MISSING` where the value is."""
    text = fmt(value, digits)
    if text == MISSING:
        return MISSING
    error = fmt(err, digits)
    return text if error == MISSING else f"{text} ± {error}"


def fmt_signed(value: Any, digits: int = 3) -> str:
    """:func:`fmt` with a ``+`` before a positive or zero value."""
    text = fmt(value, digits)
    return text if text == MISSING or text.startswith("-") else f"+{text}"


def _range(values, digits: int = 3) -> str:
    """``low-high`` of ``values`` (one value where they agree to ``digits``)."""
    values = [float(v) for v in values if fmt(v) != MISSING]
    if not values:
        return MISSING
    low, high = fmt(min(values), digits), fmt(max(values), digits)
    return low if low == high else f"{low}-{high}"


def _pct(value: Any) -> str:
    """A fraction as a percentage with one decimal."""
    text = fmt(value * 100 if value is not None else None, 1)
    return text if text == MISSING else f"{text}%"


# ------------------------------------------------------------------------------ reading
class Tables:
    """The tables of a run by name (:data:`DOCS_TABLES`), each read once with
    :func:`hierphase.io.read_table`; a name given a list of files reads them as one table."""

    def __init__(self, paths: Mapping[str, str | os.PathLike]):
        if not isinstance(paths, Mapping):
            raise TypeError(f"paths must be a mapping of table names to files, got {paths!r}")
        missing = [name for name in DOCS_TABLES if name not in paths]
        if missing:
            raise ValueError(f"paths lacks the tables {missing} (every one of {DOCS_TABLES})")
        self.paths = {name: ([Path(p) for p in paths[name]]
                             if isinstance(paths[name], (list, tuple)) else Path(paths[name]))
                      for name in DOCS_TABLES}
        self._read: dict[str, Any] = {}

    def __getitem__(self, name: str):
        if name not in self.paths:
            raise KeyError(f"no table {name!r}; the tables are {DOCS_TABLES}")
        if name not in self._read:
            import pandas as pd

            from hierphase.io import read_table

            path = self.paths[name]
            self._read[name] = (pd.concat([read_table(p) for p in path], ignore_index=True)
                                if isinstance(path, list) else read_table(path))
        return self._read[name]


def _main(df, **where):
    """Rows of ``df`` whose columns equal ``where``."""
    mask = None
    for column, value in where.items():
        hit = df[column] == value
        mask = hit if mask is None else mask & hit
    return df[mask.fillna(False)] if mask is not None else df


# ------------------------------------------------------------------------------ RHM, exact BP
def rhm_theory(t: Tables) -> dict[str, str]:
    """Mean field of the main experiment's RHM: p*, eps*, F'(p*) and nu."""
    row = t["theory_summary"].iloc[0]
    return {"p_star": fmt(row["p_star"], 4), "eps_star": fmt(row["eps_star"], 4),
            "eps_star_short": fmt(row["eps_star"], 3), "eps_star_long": fmt(row["eps_star"], 6),
            "slope": fmt(row["slope_at_p_star"], 3), "slope_long": fmt(row["slope_at_p_star"], 5),
            "nu": fmt(row["nu"], 3), "nu_long": fmt(row["nu"], 4)}


def _bp_kept(t: Tables):
    """The main experiment's exact-BP rows of the kept table."""
    return _main(t["kept"], experiment="main", model="bp")


def rhm_class_extremes(t: Tables) -> dict[str, str]:
    """The class kept at the smallest and the largest noise of each process, over every depth:
    the posterior marginal and the posterior samples."""
    import pandas as pd

    kept = _bp_kept(t)
    zero, full = [], []
    for _, group in kept[kept["level"] == 0].groupby("process"):
        zero.append(group[group["noise"] == group["noise"].min()])
        full.append(group[group["noise"] == group["noise"].max()])
    zero, full = pd.concat(zero), pd.concat(full)
    return {"zero_marginal": _range(zero["kept_marginal"]),
            "zero_sampled": _range(zero["kept_sampled"]),
            "full_marginal": _range(full["kept_marginal"], 5),
            "full_sampled": _range(full["kept_sampled"])}


def rhm_levels_deepest(t: Tables) -> dict[str, Any]:
    """At the deepest tree, for each process, where the class (level 0) and the leaves fall:
    the noise (eps, or t/T) at which each curve has made 10% and 90% of its fall from its
    value at the smallest noise to its value at the largest (linear interpolation,
    :func:`hierphase.scaling.level_crossing`)."""
    from hierphase.scaling import level_crossing

    kept = _bp_kept(t)
    L = int(kept["L"].max())
    deepest = kept[kept["L"] == L]
    out: dict[str, Any] = {"L": str(L)}
    for process, rows in deepest.groupby("process"):
        axis = "noise" if process == "epsilon" else "t_over_T"
        fall = {}
        for name, level in (("class", 0), ("leaves", L)):
            curve = rows[rows["level"] == level].sort_values(axis)
            x, y = curve[axis].to_numpy(float), curve["kept_marginal"].to_numpy(float)
            y = (y - y[-1]) / (y[0] - y[-1]) if y[0] != y[-1] else y * float("nan")
            start, end = (level_crossing(x, y, share)[0] for share in (0.9, 0.1))
            fall[name] = f"{fmt(start, 2)}-{fmt(end, 2)}"
        out[process] = fall
    return out


def rhm_bp_vs_mean_field(t: Tables) -> dict[str, str]:
    """Exact BP's posterior marginals (epsilon-process, every depth and level) against the
    mean-field curves on the same (L, level, eps): mean and largest |difference|, where the
    largest is, and how many points."""
    kept = _bp_kept(t)
    kept = kept[kept["process"] == "epsilon"]
    theory = t["theory"]
    keys = ["L", "level", "eps"]
    both = kept.assign(eps=kept["noise"].round(9)).merge(
        theory.assign(eps=theory["eps"].round(9))[keys + ["kept"]], on=keys)
    if both.empty:
        return {"mean": MISSING, "max": MISSING, "max_L": MISSING, "max_eps": MISSING,
                "points": "0"}
    diff = (both["kept_marginal"] - both["kept"]).abs()
    worst = both.loc[diff.idxmax()]
    return {"mean": fmt(diff.mean(), 4), "max": fmt(diff.max(), 3),
            "max_L": str(int(worst["L"])), "max_eps": fmt(worst["eps"], 2),
            "points": f"{len(both):,}"}


def rhm_bp_vs_samples(t: Tables) -> dict[str, str]:
    """|posterior marginal - posterior-sample fraction| over every row of the kept table."""
    kept = _bp_kept(t)
    diff = (kept["kept_marginal"] - kept["kept_sampled"]).abs()
    return {"mean": fmt(diff.mean(), 3), "max": fmt(diff.max(), 3), "rows": f"{len(diff):,}"}


def rhm_half_points(t: Tables) -> dict[str, Any]:
    """The class curve per depth (``scaling_points``): for each process, exact BP's half points
    (with the range of their errors), 90-10% widths and crossings of consecutive depths; for the
    epsilon-process mean field's on the same grid too, and the largest |BP - mean field| half
    point difference."""
    points = _main(t["scaling_points"], experiment="main")
    out: dict[str, Any] = {}
    for process in sorted(points["process"].unique()):
        for model in ("bp", "mean_field"):
            rows = _main(points, process=process, model=model).sort_values("L")
            if rows.empty:
                continue
            depths = [int(L) for L in rows["L"]]
            width = [fmt(x, 3 if x < 0.1 else 2) for x in rows["width"]]
            crossings = rows[rows["crossing"].notna()]
            out[f"{process}_{model}"] = {
                "L_first": str(depths[0]), "L_last": str(depths[-1]),
                "half": ", ".join(fmt(x) for x in rows["eps_half"]),
                "half_err": _range(rows["eps_half_err"]),
                "width_first": width[0], "width_last": width[-1],
                "crossings": _range(crossings["crossing"]),
                "crossings_err": _range(crossings["crossing_err"]),
                "crossing_list": ", ".join(f"{fmt_pm(r.crossing, r.crossing_err)} (L = {int(r.L)}, "
                                           f"{int(r.next_L)})" for r in crossings.itertuples())
                or MISSING}
    bp = _main(points, process="epsilon", model="bp").sort_values("L")
    mf = _main(points, process="epsilon", model="mean_field").sort_values("L")
    same = list(bp["L"]) == list(mf["L"])
    gap = (bp["eps_half"].to_numpy() - mf["eps_half"].to_numpy()) if same else [float("nan")]
    out["epsilon_gap"] = fmt(max(abs(x) for x in gap))
    return out


def rhm_scaling(t: Tables) -> dict[str, Any]:
    """The finite-size scaling fits (``scaling``) of the epsilon-process, exact BP and mean field
    on the same grid, and of the masking process (exact BP, which also has its per-draw width)."""
    from hierphase.finite_size import ESTIMATORS, PER_DRAW_ESTIMATOR

    scaling = _main(t["scaling"], experiment="main")

    def fit(process, model, estimator):
        rows = _main(scaling, process=process, model=model, estimator=estimator)
        if rows.empty:
            return {"eps_star": MISSING, "nu": MISSING, "L_range": MISSING}
        row = rows.iloc[0]
        return {"eps_star": fmt_pm(row["eps_star"], row["eps_star_err"], 4),
                "nu": fmt_pm(row["nu"], row["nu_err"], 2),
                "L_range": row["L_range"] if isinstance(row["L_range"], str) and row["L_range"]
                else MISSING}

    out: dict[str, Any] = {}
    for process, models in (("epsilon", ("bp", "mean_field")), ("masking", ("bp",))):
        for model in models:
            for estimator in ESTIMATORS + ((PER_DRAW_ESTIMATOR,) if model == "bp" else ()):
                out[f"{process}_{model}_{estimator}"] = fit(process, model, estimator)
    eps = _main(scaling, process="epsilon")
    out["eps_star_mean_field"] = fmt(eps["eps_star_mean_field"].iloc[0], 4) if len(eps) else MISSING
    out["nu_mean_field"] = fmt(eps["nu_mean_field"].iloc[0], 3) if len(eps) else MISSING
    return out


def rhm_correlations(t: Tables) -> dict[str, Any]:
    """The change-correlation exponents table: per depth of the main RHM, chi's peak (epsilon,
    exact BP and mean field; masking with the class half point), the exponent a at the peak and
    nu from the collapse lengths; the RHM without transition's largest chi."""
    ex = _main(t["exponents"], family="rhm")

    def rows(experiment, model, process):
        return _main(ex, experiment=experiment, model=model, process=process).sort_values("L")

    bp, mf = rows("main", "bp", "epsilon"), rows("main", "mean_field", "epsilon")
    masking = rows("main", "bp", "masking")
    flat = rows("no_transition", "bp", "epsilon")
    return {
        "L": ", ".join(str(int(L)) for L in bp["L"]),
        "peak": _range(bp["peak_noise"]),
        "chi_max": ", ".join(fmt(x, 2) for x in bp["chi_max"]),
        "chi_max_mf": ", ".join(fmt(x, 2) for x in mf["chi_max"]),
        "a": ", ".join(fmt(x, 2) for x in bp["a"]),
        "a_err": _range(bp["a_err"], 2),
        "nu": ", ".join(fmt_pm(x, e, 2) for x, e in zip(bp["nu"], bp["nu_err"])),
        "masking_peak": _range(masking["peak_noise"], 2),
        "masking_chi_max": ", ".join(fmt(x, 2) for x in masking["chi_max"]),
        "masking_half": _range(masking["class_half_noise"]),
        "no_transition_L": ", ".join(str(int(L)) for L in flat["L"]),
        "no_transition_chi_max": _range(flat["chi_max"], 2),
        "no_transition_peak": _range(flat["peak_noise"], 2),
    }


def _widest_level_windows(lv) -> list[dict[str, str]]:
    """Per depth of a level-exponents table, its widest window from k = 1 (a, its error and
    chi2/dof, mean field on the same window, the gap to mean field's infinite-depth value, the
    spatial fit on r = s**k - 1 of the same window)."""
    widest = []
    for L, g in lv[lv["k_min"] == 1].groupby("L", sort=True):
        row = g.sort_values("k_max").iloc[-1]
        widest.append({"L": str(int(L)), "k_max": str(int(row["k_max"])),
                       "n_rule_seeds": str(int(row["n_rule_seeds"])),
                       "a": fmt_pm(row["a"], row["a_err"]), "chi2_dof": fmt(row["chi2_dof"], 2),
                       "a_mean_field": fmt(row["a_mean_field"]),
                       "gap_infinite": fmt_signed(row["a"] - row["a_mean_field_infinite"]),
                       "a_spatial": fmt_pm(row["a_spatial"], row["a_spatial_err"]),
                       "chi2_dof_spatial": fmt(row["chi2_dof_spatial"], 1)})
    return widest


def rhm_level_exponents(t: Tables) -> dict[str, Any]:
    """The exponent of C per tree level at the chi peak (``level_exponents``, exact BP,
    epsilon-process): for the main experiment per depth the widest window from k = 1
    (:func:`_widest_level_windows`), mean field's infinite-depth value, and every window from
    k = 1 and k = 2 as table rows; for the depth estimate's RHMs (experiment ``depth``, rule
    draws pooled) the widest windows of its deepest three depths (``deep``)."""
    lv = _main(t["level_exponents"], experiment="main", model="bp", process="epsilon")
    widest = _widest_level_windows(lv)
    deep_lv = _main(t["level_exponents"], experiment="depth", model="bp", process="epsilon")
    deep = _widest_level_windows(deep_lv)[-3:]
    windows = [{"L": str(int(r["L"])), "window": f"{int(r['k_min'])}-{int(r['k_max'])}",
                "a": fmt_pm(r["a"], r["a_err"]), "chi2_dof": fmt(r["chi2_dof"], 2),
                "a_mean_field": fmt(r["a_mean_field"]),
                "a_spatial": fmt_pm(r["a_spatial"], r["a_spatial_err"]),
                "a_mean_field_spatial": fmt(r["a_mean_field_spatial"])}
               for r in lv[lv["k_min"] <= 2].sort_values(["L", "k_min", "k_max"]).to_dict("records")]
    inf = lv["a_mean_field_infinite"].dropna()
    def largest_gap(rows):
        return (fmt(max(abs(float(w["gap_infinite"])) for w in rows))
                if rows and all(w["gap_infinite"] != MISSING for w in rows) else MISSING)

    return {"widest": widest, "windows": windows, "deep": deep,
            "a_infinite": fmt(inf.iloc[0]) if len(inf) else MISSING,
            "largest_gap": largest_gap(widest), "deep_largest_gap": largest_gap(deep)}


#: How the docs name each group of the signature table.
SIGNATURE_LABELS = {("rhm", "main", "bp"): "RHM", ("rhm", "no_transition", "bp"):
                    "RHM without transition (m = 24)",
                    ("random_code", "random_code", "exact"): "random code",
                    ("rhm_permuted", "permuted_rhm", "bp"): "RHM, own order (permuted set)",
                    ("rhm_permuted", "permuted_rhm", "bp_permuted"): "RHM, leaves permuted",
                    ("flat_mixture", "flat_mixture", "bp"): "flat class mixture",
                    ("rhm", "depth", "bp"): "RHM, the depth estimate's draws (pooled)"}


def rhm_signature(t: Tables) -> dict[str, Any]:
    """The hierarchy beside its controls (``signature``, epsilon-process, measured groups): per
    group and size, the class flip (half point, 90-10% width), chi's peak (noise, chi_max,
    chi_max/d, whether it peaks), a per tree level and C(top)/C(1); and how chi_max grows: per
    level for the RHM (the mean step between consecutive depths), per site for the random code
    (chi_max/d at its largest d)."""
    sig = t["signature"]
    sig = sig[(sig["process"] == "epsilon") & (sig["model"] != "mean_field")]
    rows = []
    for r in sig.sort_values(["family", "experiment", "model", "d"]).to_dict("records"):
        label = SIGNATURE_LABELS.get((r["family"], r["experiment"], r["model"]),
                                     f"{r['family']} ({r['model']})")
        rows.append({"group": label, "L": str(int(r["L"])), "d": str(int(r["d"])),
                     "half": fmt(r["class_half_noise"]), "width": fmt(r["class_flip_width"]),
                     "peak": fmt(r["peak_noise"], 3), "chi_max": fmt(r["chi_max"], 2),
                     "chi_max_over_d": fmt(r["chi_max_over_d"], 3),
                     "peaks": "yes" if r["chi_peaks"] else "no",
                     "a_level": fmt_pm(r["a_level"], r["a_level_err"], 2),
                     "C_ratio": fmt(r["C_top_over_C_1"], 3)})
    rhm = _main(sig, family="rhm", experiment="main", model="bp").sort_values("L")
    code = _main(sig, family="random_code", model="exact").sort_values("d")
    steps = rhm["chi_max"].diff().dropna()
    return {"rows": rows,
            "rhm_step_per_level": fmt(steps.mean(), 2) if len(steps) else MISSING,
            "rhm_steps": ", ".join(fmt(x, 2) for x in steps),
            "rhm_chi_max": ", ".join(fmt(x, 2) for x in rhm["chi_max"]),
            "rhm_d": ", ".join(str(int(d)) for d in rhm["d"]),
            "code_chi_max": ", ".join(fmt(x, 2) for x in code["chi_max"]),
            "code_d": ", ".join(str(int(d)) for d in code["d"]),
            "code_chi_over_d": ", ".join(fmt(x, 2) for x in code["chi_max_over_d"]),
            "code_width": ", ".join(fmt(x, 3) for x in code["class_flip_width"])}


def rhm_depth_estimate(t: Tables) -> dict[str, Any]:
    """The depth read off chi at its peak (``depth_estimates``, ``depth_calibration``): the
    calibrated line and its score on the held-out RHMs, and one row per RHM."""
    cal = t["depth_calibration"].iloc[0]
    est = t["depth_estimates"].sort_values(["role", "L", "rule_seed"])
    rows = [{"role": "calibration" if r["role"] == "calibration" else "held out",
             "L": str(int(r["L"])), "rule_seed": str(int(r["rule_seed"])),
             "peak": fmt(r["peak_noise"], 3), "chi_max": fmt(r["chi_max"], 2),
             "a_first": fmt(r["a_first"], 2), "L_estimate": fmt(r["L_estimate"], 2),
             "L_hat": str(int(r["L_hat"])), "exact": "yes" if r["exact"] else "no"}
            for r in est.to_dict("records")]
    return {"rows": rows, "feature": str(cal["feature"]), "k_fit": str(int(cal["k_fit"])),
            "alpha": fmt(cal["alpha"], 2),
            "beta": fmt(cal["beta"], 2), "residual_sd": fmt(cal["residual_sd"], 2),
            "n_calibration": str(int(cal["n_calibration"])),
            "calibration_L": str(cal["calibration_L"]).replace(",", ", "),
            "n_held_out": str(int(cal["n_held_out"])), "n_exact": str(int(cal["n_exact"])),
            "mean_abs_error": fmt(cal["mean_abs_error"], 2),
            "max_abs_error": fmt(cal["max_abs_error"], 2),
            "new_depths_exact": str(cal["held_out_depths_exact"]).replace("/", " of ")}


def rhm_critical(t: Tables) -> dict[str, Any]:
    """The critical point side by side (``critical``: population dynamics, exact BP's class-curve
    width and correlation lengths, annealed mean field; the main experiment), the population
    dynamics of every point (``population``) and, at the main RHM's point, the effective nu over
    windows of three depths (``local_exponents``) and from the class curves' widths over each
    pair of consecutive width depths and over all of them (``width_exponents``)."""
    est = _main(t["critical"], experiment="main")
    methods = [{"method": r["method"], "eps_star": fmt_pm(r["eps_star"], r["eps_star_err"], 4),
                "nu": fmt_pm(r["nu"], r["nu_err"], 3), "z": fmt(r["nu_z_vs_population"], 1),
                "detail": r["detail"]} for r in est.to_dict("records")]
    by_method = est.set_index("method")

    def gap(a: str, b: str, column: str, digits: int) -> str:
        """``column`` of method a minus method b, and that over their errors combined."""
        if a not in by_method.index or b not in by_method.index:
            return MISSING
        x, y = by_method.loc[a], by_method.loc[b]
        diff = float(x[column] - y[column])
        err = math.hypot(*(float(v) if np.isfinite(v) else 0.0
                           for v in (x[f"{column}_err"], y[f"{column}_err"])))
        return (f"{fmt_signed(diff, digits)} ({fmt(diff / err, 1)} errors)" if err > 0
                else fmt_signed(diff, digits))

    population = "population dynamics, half points over depth"
    comparisons = {f"{column}_{name}": gap(other, population, column, digits)
                   for name, other in (("width", "class-curve width"),
                                       ("corrected", "class-curve half points, corrected"),
                                       ("mean_field", "annealed mean field"))
                   for column, digits in (("eps_star", 4), ("nu", 3))}
    points = [{"point": _point(r), "eps_star": fmt_pm(r["eps_star"], r["eps_star_err"], 4),
               "spread": fmt(r["eps_star_spread"], 4), "nu": fmt_pm(r["nu"], r["nu_err"], 3),
               "replicas": str(int(r["n_replicas"])), "depth": str(int(r["depth"])),
               "n_per_value": str(int(r["n_per_value"]))}
              for r in t["population"].sort_values(["s", "v", "m", "depth"])
              .groupby(["s", "v", "m"], sort=False).tail(1).to_dict("records")]
    # the main RHM's point
    point = {k: int(est[k].iloc[0]) for k in ("v", "m", "s")} if len(est) else None
    windows = [{"depths": f"{int(r['depth_a'])}, {int(r['depth_b'])}, {int(r['depth_c'])}",
                "nu": fmt_pm(r["nu"], r["nu_err"], 3),
                "replicas": f"{int(r['n_valid'])} of {int(r['n_replicas'])}"}
               for r in _main(t["local_exponents"], **point)
               .sort_values(["depth_c", "depth_a"]).to_dict("records")] if point else []
    fits = _main(t["width_exponents"], **point) if point else t["width_exponents"].iloc[:0]
    whole = (fits["depth_min"] == fits["depth_min"].min()) & (
        fits["depth_max"] == fits["depth_max"].max())
    widths = [{"depths": f"{int(r['depth_min'])}-{int(r['depth_max'])}",
               "nu": fmt_pm(r["nu"], r["nu_err"], 3), "width": fmt(r["width"], 4),
               "replicas": f"{int(r['n_valid'])} of {int(r['n_replicas'])}"}
              for r in fits[(fits["n_depths"] == 2) | whole]
              .sort_values(["n_depths", "depth_max"]).to_dict("records")]
    return {"methods": methods, "points": points, "windows": windows, "widths": widths,
            **comparisons}


def rhm_same_rules(t: Tables) -> dict[str, Any]:
    """Exact BP against population dynamics RHM by RHM (``same_rules``): agreement over every
    RHM with both half points, and per depth (over every experiment) the means and the spread of
    the population's half points between RHMs."""
    both = t["same_rules"].dropna(subset=["eps_half_bp", "eps_half_population", "z"])
    z = both["z"].to_numpy(float)
    diff = both["difference"].to_numpy(float)
    depths = [{"L": str(int(L)), "n": str(len(g)), "bp": fmt(g["eps_half_bp"].mean(), 4),
               "population": fmt(g["eps_half_population"].mean(), 4),
               "spread": fmt(g["eps_half_population"].std(ddof=1), 4) if len(g) > 1 else MISSING}
              for L, g in both.groupby("L", sort=True)]
    return {"n": str(len(both)), "experiments": ", ".join(sorted(both["experiment"].unique())),
            "chi2_dof": fmt(float(np.mean(z ** 2)), 2) if len(z) else MISSING,
            "max_abs_z": fmt(float(np.abs(z).max()), 1) if len(z) else MISSING,
            "n_below": str(int((diff < 0).sum())),
            "mean_difference": fmt(float(-diff.mean()), 4) if len(diff) else MISSING,
            "mean_grid_bias": fmt(float(-both["grid_bias"].mean()), 4) if len(diff) else MISSING,
            "mean_residual": (fmt_signed(float((diff - both["grid_bias"]).mean()), 4)
                              if len(diff) else MISSING),
            "population_err": fmt(both["eps_half_population_err"].median(), 4),
            "bp_err": fmt(both["eps_half_bp_err"].median(), 4),
            "picks": str(int(both["picks"].iloc[0])) if len(both) else MISSING,
            "n_per_value": str(int(both["n_per_value"].iloc[0])) if len(both) else MISSING,
            "depths": depths}


def _point(row) -> str:
    """A phase-diagram point by its RHM: ``s = 2, v = 8, m = 4``."""
    return f"s = {int(row['s'])}, v = {int(row['v'])}, m = {int(row['m'])}"


def _listing(items) -> str:
    items = list(items)
    return "; ".join(items) if items else "none"


#: Mean field's nu up to which the docs call it small (the finite-size term then mostly gone
#: at the phase diagram's depths).
PHASE_SMALL_NU = 4.5
#: How close (in eps) the docs call BP's extrapolated eps* "at" mean field's.
PHASE_CLOSE = 0.005


def rhm_phase_diagram(t: Tables) -> dict[str, str]:
    """The phase diagram (``phase_diagram``): how many points, where BP and mean field disagree
    on the existence of the transition (with mean field's nu and the per-level factor
    s^(1/nu)), and where both see it, how BP's extrapolated eps* compares with mean field's."""
    pdg = t["phase_diagram"].sort_values(["s", "v", "m"])
    mf, bp = pdg["has_transition_mf"].astype(bool), pdg["has_transition_bp"].astype(bool)
    by_s = pdg.groupby("s").size()
    missing_bp = pdg[mf & ~bp]
    both = pdg[mf & bp].copy()
    both["gap"] = both["eps_star_bp_extrapolated"] - both["eps_star_mf"]
    close = both[both["gap"].abs() <= PHASE_CLOSE]
    small = both[both["nu_mf"] <= PHASE_SMALL_NU].dropna(subset=["gap"])
    big = both.dropna(subset=["gap"]).reindex(
        both["gap"].dropna().abs().sort_values(ascending=False).index)
    half = pdg[mf & (pdg["s"] == 2)].copy()
    half["off"] = half["eps_half_bp"] - half["eps_star_mf"]
    half = half.reindex(half["off"].abs().sort_values(ascending=False).index)

    return {
        "points": str(len(pdg)),
        "by_s": ", ".join(f"{n} at s = {int(s_)}" for s_, n in by_s.items()),
        "agree": str(int((mf == bp).sum())),
        "bp_only": str(int((~mf & bp).sum())),
        "mf_only": str(len(missing_bp)),
        "mf_only_points": _listing(f"{_point(r)} (nu = {fmt(r['nu_mf'], 1)})"
                                   for _, r in missing_bp.iterrows()),
        "mf_only_factor": _range([r["s"] ** (1 / r["nu_mf"]) for _, r in missing_bp.iterrows()],
                                 2),
        "both": str(len(both)),
        "close": PHASE_CLOSE.__format__("g"),
        "close_points": _listing(f"{_point(r)} ({fmt(r['eps_star_bp_extrapolated'], 4)} vs "
                                 f"{fmt(r['eps_star_mf'], 4)})" for _, r in close.iterrows()),
        "small_nu": f"{PHASE_SMALL_NU:g}",
        "small_nu_largest": _range(small["gap"].abs(), 3),
        "small_nu_points": _listing(f"{_point(r)}, {fmt_signed(r['gap'])} ± {fmt(r['err'])}"
                                    for _, r in small.reindex(small["gap"].abs().sort_values(
                                        ascending=False).index).head(2).iterrows()),
        "largest": _listing(f"{fmt_signed(r['gap'], 2)} ± {fmt(r['err'], 2)} at {_point(r)} "
                            f"(extrapolated {fmt(r['eps_star_bp_extrapolated'], 2)} against "
                            f"{fmt(r['eps_star_mf'], 2)}; mean field's nu {fmt(r['nu_mf'], 1)})"
                            for _, r in big.head(2).iterrows()),
        "half_largest": (f"{fmt_signed(half['off'].iloc[0], 2)} at {_point(half.iloc[0])}"
                         if len(half) else MISSING),
        "half_others": fmt(half["off"].iloc[1:].abs().max() if len(half) > 1 else None, 2),
    }


# ------------------------------------------------------------------------------ learned
def learned_evaluation(t: Tables) -> list[dict[str, str]]:
    """One row per learned model (process, P): grammatical fraction with its Wilson interval,
    memorised fraction, and the largest |learned - BP| class-kept gap over t with its t/T."""
    ev = t["evaluation"].sort_values(["process", "P", "seed"])
    dist = t["distance"].set_index(["process", "P", "seed"])
    out = []
    for _, row in ev.iterrows():
        key = (row["process"], row["P"], row["seed"])
        gap = dist.loc[key] if key in dist.index else None
        out.append({"process": row["process"], "P": str(int(row["P"])),
                    "grammatical": fmt(row["grammatical"]),
                    "ci_low": fmt(row["grammatical_ci_low"]),
                    "ci_high": fmt(row["grammatical_ci_high"]),
                    "memorized": fmt(row["memorized"]),
                    "gap": fmt(None if gap is None else gap["max_abs_diff"]),
                    "gap_at": MISSING if gap is None else f"{float(gap['noise_at_max']):g}"})
    return out


def learned_largest_P(t: Tables) -> dict[str, Any]:
    """The models at the largest P: grammatical (percent, and the Wilson lower bound), the
    largest and the mean class-kept gap to exact BP over t, per process."""
    ev, dist = t["evaluation"], t["distance"]
    P = int(ev["P"].max())
    largest = _main(ev, P=P)
    out: dict[str, Any] = {"P": f"{P:,}",
                           "n_train_distinct": _range(largest["n_train_distinct"], 0)}
    for process in sorted(ev["process"].unique()):
        row = _main(ev, process=process, P=P).iloc[0]
        gap = _main(dist, process=process, P=P)
        out[process] = {"grammatical": _pct(row["grammatical"]),
                        "ci_low": _pct(row["grammatical_ci_low"]),
                        "gap": fmt(gap["max_abs_diff"].max()) if len(gap) else MISSING,
                        "mean_gap": fmt(gap["mean_abs_diff"].max()) if len(gap) else MISSING}
    gaps = _main(dist, P=P)["max_abs_diff"]
    out["gap"] = fmt(gaps.max()) if len(gaps) else MISSING
    return out


def learned_validity(t: Tables) -> dict[str, Any]:
    """One row per learned model: the fraction of valid tuples per level (0: class rules), over
    all generated samples and over the novel ones, and the number of novel samples; and the
    levels, as the rows list them."""
    val = t["validity"].sort_values(["process", "P", "seed", "level"])
    out = []
    for (process, P, _seed), rows in val.groupby(["process", "P", "seed"], sort=False):
        every = rows[rows["samples"] == "all"]
        novel = rows[rows["samples"] == "novel"]
        out.append({"process": process, "P": str(int(P)),
                    "all": " / ".join(fmt(x) for x in every["tuples_valid"]),
                    "novel": " / ".join(fmt(x) for x in novel["tuples_valid"]),
                    "n_novel": str(int(novel["n_samples"].iloc[0])) if len(novel) else MISSING})
    levels = " / ".join(str(int(level)) for level in sorted(val["level"].unique()))
    return {"levels": levels, "rows": out}


def _P(value) -> str:
    return f"{float(value):,.0f}"


def learned_sample_complexity(t: Tables) -> dict[str, Any]:
    """Per process, the P at which each level's novel-sample validity crosses each threshold
    (``sample_complexity``, measure ``tuples_valid``): the crossing with the measured P around
    it, "below" the smallest P, or not reached by the largest; and, at the highest threshold,
    the ratio of the class rules' P* to level 1's and how wide their brackets are."""
    sc = _main(t["sample_complexity"], measure="tuples_valid")
    out: dict[str, Any] = {}
    for process, rows in sc.groupby("process"):
        levels = sorted(rows["level"].unique(), reverse=True)
        table = []
        for threshold, at in rows.groupby("threshold"):
            at = at.set_index("level")
            cells = []
            for level in levels:
                if level not in at.index:
                    cells.append(MISSING)
                    continue
                r = at.loc[level]
                if r["P_low"] == 0:
                    cells.append(f"below {_P(r['P_high'])}")
                elif math.isinf(r["P_high"]):
                    cells.append(f"not reached by {_P(r['P_low'])}")
                else:
                    cells.append(f"{_P(r['P_star'])} [{_P(r['P_low'])}, {_P(r['P_high'])}]")
            table.append({"threshold": f"{threshold:g}", "cells": cells})
        top = rows[rows["threshold"] == rows["threshold"].max()].set_index("level")

        def star(level):
            return top.loc[level, "P_star"] if level in top.index else float("nan")

        def bracket(level):
            if level not in top.index or top.loc[level, "P_low"] == 0 \
                    or math.isinf(top.loc[level, "P_high"]):
                return MISSING
            return fmt(top.loc[level, "P_high"] / top.loc[level, "P_low"], 0)

        labels = [f"level {int(level)}" + (" (leaf rules)" if level == levels[0] else
                                           " (class rules)" if level == 0 else "")
                  for level in levels]
        out[process] = {"levels": labels, "rows": table,
                        "top": f"{rows['threshold'].max():g}", "ratio": fmt(star(0) / star(1), 1),
                        "bracket_1": bracket(1), "bracket_0": bracket(0)}
    return out


#: The validity the docs' learning-curve sentence says a level passes.
LEARNING_THRESHOLD = 0.9


def learned_learning_curve(t: Tables) -> dict[str, str]:
    """At the largest P, per process and level (leaves first), the first training step whose
    novel samples pass :data:`LEARNING_THRESHOLD` validity with the value there, or the value
    at the last step; for the class rules also the value at the step before."""
    lc = _main(t["learning_curve"], samples="novel")
    lc = lc[lc["P"] == lc["P"].max()]
    out = {"P": _P(lc["P"].max()) if len(lc) else MISSING,
           "threshold": f"{LEARNING_THRESHOLD:g}"}
    for process, rows in lc.groupby("process"):
        parts = []
        for level in sorted(rows["level"].unique(), reverse=True):
            curve = rows[rows["level"] == level].sort_values("step")
            passed = curve[curve["tuples_valid"] >= LEARNING_THRESHOLD]
            if passed.empty:
                last = curve.iloc[-1]
                text = (f"level {int(level)} not by step {int(last['step'])} "
                        f"({fmt(last['tuples_valid'])})")
            else:
                first = passed.iloc[0]
                text = (f"level {int(level)} by step {int(first['step'])} "
                        f"({fmt(first['tuples_valid'])}")
                before = curve[curve["step"] < first["step"]]
                if level == rows["level"].min() and len(before):
                    text += (f"; {fmt(before['tuples_valid'].iloc[-1])} at step "
                             f"{int(before['step'].iloc[-1])}")
                text += ")"
            parts.append(text)
        out[process] = ", ".join(parts)
    return out


def learned_correlations(t: Tables) -> dict[str, Any]:
    """The learned models' change correlations of the leaves against exact BP's: per model
    (``chi_distance``) the largest gap chi - chi_BP with its t/T and error, whether it is within
    that error, the mean gap, and the range of the fraction of outputs that parse
    (``learned_susceptibility``); per process exact BP's chi of the leaves at the first noised
    t/T, at its peak (with the class kept there) and at the last, and where the class kept
    first falls through 1/2."""
    from hierphase.scaling import level_crossing

    dist = t["chi_distance"].sort_values(["process", "P"], ascending=[False, False])
    sus = t["learned_susceptibility"]
    leaves = sus[sus["level"] == sus["level"].max()]
    models = []
    for _, row in dist.iterrows():
        own = leaves[(leaves["process"] == row["process"]) & (leaves["P"] == row["P"])]
        models.append({"process": row["process"], "P": _P(row["P"]),
                       "gap": fmt_signed(row["gap"]),
                       "at": f"{row['noise_at_max']:g}", "err": fmt(row["gap_err"], 2),
                       "within": "yes" if abs(row["gap"]) <= row["gap_err"] else "no",
                       "mean_gap": fmt(row["mean_abs_gap"]),
                       "valid": _range(own["valid_fraction"], 2)})
    bp = {}
    for process, rows in leaves[leaves["model"] == "bp"].groupby("process"):
        curve = rows[rows["t_over_T"] > 0].sort_values("t_over_T").dropna(subset=["chi"])
        top = curve.loc[curve["chi"].idxmax()]
        kept = sus[(sus["model"] == "bp") & (sus["process"] == process)
                   & (sus["level"] == 0)].sort_values("t_over_T")
        half, _ = level_crossing(kept["t_over_T"].to_numpy(float),
                                 kept["class_kept"].to_numpy(float), 0.5)
        bp[process] = {"first": fmt(curve["chi"].iloc[0], 2),
                       "first_at": f"{curve['t_over_T'].iloc[0]:g}",
                       "peak": fmt(top["chi"], 2), "peak_at": f"{top['t_over_T']:g}",
                       "peak_kept": fmt(top["class_kept"], 2),
                       "last": fmt(curve["chi"].iloc[-1], 2),
                       "last_at": f"{curve['t_over_T'].iloc[-1]:g}", "half": fmt(half, 2)}
    largest = dist[dist["P"] == dist["P"].max()]
    return {"models": models, "bp": bp, "P": _P(dist["P"].max()) if len(dist) else MISSING,
            "largest_P": {r["process"]: f"{fmt_signed(r['gap'])} ± {fmt(r['gap_err'], 2)}"
                          for _, r in largest.iterrows()}}


# ------------------------------------------------------------------------------ images
def images_quality(t: Tables) -> dict[str, dict[str, str]]:
    """The quality gates: the classifier's held-out accuracy (with the count of correct images)
    and the fraction of unconditional samples classified confidently, Wilson 95% intervals."""
    q = t["quality"].set_index("metric")
    out = {}
    for key, metric in (("accuracy", "classifier_held_out_accuracy"),
                        ("confident", "samples_confidence_gt_0.9")):
        row = q.loc[metric]
        out[key] = {"value": fmt(row["value"]), "pct": _pct(row["value"]),
                    "ci_low": fmt(row["ci_low"]), "ci_high": fmt(row["ci_high"]),
                    "n": str(int(row["n"])), "hits": str(int(round(row["value"] * row["n"]))),
                    "target": f"{float(row['target']):g}"}
    return out


def images_class_kept(t: Tables) -> dict[str, str]:
    """The class kept after forward-backward at every t/T of the grid, and the number of
    images."""
    ck = t["class_kept"].sort_values("t_over_T")
    return {"n": str(int(ck["n"].iloc[0])),
            "points": "; ".join(f"{row.t_over_T:g}: {fmt(row.kept)}" for row in ck.itertuples())}


def images_layer_similarity(t: Tables) -> dict[str, Any]:
    """The mean cosine similarity of every layer's features (columns, shallow to deep) at every
    t/T of the grid (rows), and the first t/T from which the shallowest layer stays more similar
    than the deepest."""
    ls = t["layer_similarity"]
    layers = ls.drop_duplicates("layer").sort_values("depth")["layer"].tolist()
    grid = ls.pivot_table(index="t_over_T", columns="layer", values="similarity")[layers]
    rows = [{"t_over_T": f"{tt:g}", "values": [fmt(grid.loc[tt, layer], 2) for layer in layers]}
            for tt in grid.index]
    above = grid[layers[0]] > grid[layers[-1]]
    since = MISSING
    for tt in reversed(grid.index):
        if not above.loc[tt]:
            break
        since = f"{tt:g}"
    return {"layers": layers, "rows": rows, "shallow_above_deep_from": since}


def _sig(value) -> str:
    """Three significant figures at most two decimals: 27.8, 7.29, 0.56."""
    return fmt(value, 1 if abs(float(value)) >= 10 else 2) if fmt(value) != MISSING else MISSING


def images_correlations(t: Tables) -> dict[str, Any]:
    """The change correlations of image patches (``patch_susceptibility``): per t/T (noised
    images only), chi and xi of every embedding with their bootstrap intervals; per embedding
    the t/T of chi's peak and chi there; and the class half point (where ``class_kept`` first
    falls through 0.5) with the class kept on either side."""
    from hierphase.scaling import level_crossing

    ps = t["patch_susceptibility"]
    ps = ps[ps["t_over_T"] > 0]
    embeddings = sorted(ps["embedding"].unique())

    def interval(row, name):
        return f"{_sig(row[name])} [{_sig(row[name + '_lo'])}, {_sig(row[name + '_hi'])}]"

    rows = []
    for t_over_T, at in ps.groupby("t_over_T"):
        at = at.set_index("embedding")
        rows.append({"t_over_T": f"{t_over_T:g}",
                     "chi": [interval(at.loc[e], "chi") for e in embeddings],
                     "xi": [interval(at.loc[e], "xi") for e in embeddings]})
    peaks = {}
    for e in embeddings:
        curve = ps[ps["embedding"] == e].dropna(subset=["chi"])
        top = curve.loc[curve["chi"].idxmax()] if len(curve) else None
        peaks[e] = {"t_over_T": MISSING if top is None else f"{top['t_over_T']:g}",
                    "chi": MISSING if top is None else interval(top, "chi")}
    ck = t["class_kept"].sort_values("t_over_T")
    half, _ = level_crossing(ck["t_over_T"].to_numpy(float), ck["kept"].to_numpy(float), 0.5)
    below = ck[ck["t_over_T"] <= half] if not math.isnan(half) else ck.iloc[:0]
    above = ck[ck["t_over_T"] > half] if not math.isnan(half) else ck.iloc[:0]
    side = (f"class kept {fmt(below['kept'].iloc[-1])} at {below['t_over_T'].iloc[-1]:g}, "
            f"{fmt(above['kept'].iloc[0])} at {above['t_over_T'].iloc[0]:g}"
            if len(below) and len(above) else "the class kept never falls through 0.5")
    columns = [f"chi, {e}" for e in embeddings] + [f"xi (patches), {e}" for e in embeddings]
    return {"embeddings": embeddings, "columns": columns, "rows": rows, "peaks": peaks,
            "class_half": fmt(half, 2), "class_half_sides": side,
            "n_images": str(int(ps["n_x0"].iloc[0])) if len(ps) else MISSING,
            "n_runs": str(int(ps["n_traj"].iloc[0])) if len(ps) else MISSING,
            "grid": (f"{int(ps['grid_h'].iloc[0])} x {int(ps['grid_w'].iloc[0])}"
                     if len(ps) else MISSING)}


def mdlm_grammar(t: Tables) -> dict[str, Any]:
    """The MDLMs on the grammar against its exact posterior (``mdlm_gap``), per training-set size
    P and masked fraction t/T: the grammatical fraction with its Wilson interval, class kept of
    the model and of the exact posterior, chi of both with their intervals, and which of the
    acceptance checks pass; at the largest P, the smallest Wilson lower bound and the largest
    class gap over t/T, the levels where chi agrees and the range of the exact chi."""
    gap = t["mdlm_gap"].sort_values(["P", "level"])
    checks = (("grammatical_ok", "grammatical"), ("class_ok", "class"), ("chi_within", "chi"))

    def interval(lo, hi, digits):
        return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"

    rows = [{"P": str(int(r["P"])), "level": fmt(r["level"], 2),
             "grammatical": fmt(r["grammatical"], 3),
             "grammatical_ci": interval(r["grammatical_lo"], r["grammatical_hi"], 3),
             "class_model": fmt(r["class_model"], 3), "class_exact": fmt(r["class_exact"], 3),
             "chi_model": f"{fmt(r['chi_model'], 2)} {interval(r['chi_model_lo'], r['chi_model_hi'], 2)}",
             "chi_exact": f"{fmt(r['chi_exact'], 2)} {interval(r['chi_exact_lo'], r['chi_exact_hi'], 2)}",
             "passes": ", ".join(name for column, name in checks if bool(r[column])) or "none"}
            for r in gap.to_dict("records")]
    largest = gap[gap["P"] == gap["P"].max()] if len(gap) else gap
    return {"rows": rows,
            "P": str(int(largest["P"].iloc[0])) if len(largest) else MISSING,
            "grammatical_lo_min": fmt(largest["grammatical_lo"].min(), 3),
            "class_gap_max": fmt(largest["class_gap"].abs().max(), 3),
            "chi_within": f"{int(largest['chi_within'].sum())} of {len(largest)}",
            "chi_exact_range": (f"{fmt(largest['chi_exact'].min(), 2)}-"
                                f"{fmt(largest['chi_exact'].max(), 2)}" if len(largest)
                                else MISSING)}


def mdlm_text(t: Tables) -> dict[str, Any]:
    """The text protocol's peaks (``mdlm_peaks``), per denoiser (the MDLM, the n-gram control,
    the MDLM on shuffled passages) and cutoff: where chi peaks on the t/T grid and its value with
    its bootstrap interval, where xi is largest and its value with its interval; ``r10`` and
    ``all_pairs``: those of the cutoff r <= 10 (the follow-up's) and of every pair, by denoiser."""
    peaks = t["mdlm_peaks"]
    order = {name: i for i, name in enumerate(("mdlm", "ngram", "shuffled", "published"))}
    peaks = peaks.assign(_m=peaks["model"].map(order).fillna(len(order))).sort_values(["_m", "R"])
    def by_model(rows):
        found = {r["model"]: {"t_chi_peak": fmt(r["t_chi_peak"], 2),
                              "chi_peak": fmt(r["chi_peak"], 2), "xi_max": fmt(r["xi_max"], 1)}
                 for r in rows.to_dict("records")}
        return {m: found.get(m, dict.fromkeys(("t_chi_peak", "chi_peak", "xi_max"), MISSING))
                for m in ("mdlm", "ngram", "shuffled")}

    return {"r10": by_model(peaks[peaks["R"] == 10]),
            "all_pairs": by_model(peaks[np.isinf(peaks["R"].astype(float))]),
            "rows": [{"model": r["model"], "cutoff": r["cutoff"],
                      "t_chi_peak": fmt(r["t_chi_peak"], 2),
                      "chi_peak": f"{fmt(r['chi_peak'], 2)} [{fmt(r['chi_peak_lo'], 2)}, "
                                  f"{fmt(r['chi_peak_hi'], 2)}]",
                      "t_xi_max": fmt(r["t_xi_max"], 2),
                      "xi_max": f"{fmt(r['xi_max'], 1)} [{fmt(r['xi_max_lo'], 1)}, "
                                f"{fmt(r['xi_max_hi'], 1)}]"}
                     for r in peaks.to_dict("records")]}


#: Every number function, by the name the templates use.
NUMBERS: dict[str, Callable[[Tables], Any]] = {
    f.__name__: f for f in (
        rhm_theory, rhm_class_extremes, rhm_levels_deepest, rhm_bp_vs_mean_field,
        rhm_bp_vs_samples, rhm_half_points,
        rhm_scaling, rhm_correlations, rhm_level_exponents, rhm_signature, rhm_depth_estimate,
        rhm_critical,
        rhm_same_rules,
        rhm_phase_diagram, learned_evaluation, learned_largest_P,
        learned_validity, learned_sample_complexity, learned_learning_curve, learned_correlations,
        images_quality, images_class_kept, images_layer_similarity, images_correlations,
        mdlm_grammar, mdlm_text)}


def extract_numbers(paths: Mapping[str, str | os.PathLike]) -> dict[str, Any]:
    """Every number of :data:`NUMBERS`, formatted, from the tables at ``paths`` (name -> file,
    every name of :data:`DOCS_TABLES`)."""
    tables = Tables(paths)
    return {name: function(tables) for name, function in NUMBERS.items()}


def _environment():
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)


def template_names(template: str) -> set[str]:
    """The names a template's placeholders read (each must be a key of :data:`NUMBERS`)."""
    from jinja2 import meta

    if not isinstance(template, str):
        raise TypeError(f"template must be the template's text, got {type(template).__name__}")
    return meta.find_undeclared_variables(_environment().parse(template))


def render(template: str, numbers: Mapping[str, Any]) -> str:
    """``template`` (Jinja2 text) filled with ``numbers``; a placeholder without a number, or a
    template name that is no number function, raises ValueError naming it."""
    import jinja2

    if not isinstance(numbers, Mapping):
        raise TypeError(f"numbers must be a mapping, got {type(numbers).__name__}")
    unknown = template_names(template) - set(NUMBERS)
    if unknown:
        raise ValueError(f"template reads {sorted(unknown)}, which no number function makes "
                         f"(hierphase.stages.docs.NUMBERS)")
    try:
        return _environment().from_string(template).render(**numbers)
    except jinja2.UndefinedError as err:
        raise ValueError(f"numbers lacks what the template reads: {err}") from None


def render_docs(paths: Mapping[str, str | os.PathLike], templates: Mapping[str, str | os.PathLike],
                outputs: Mapping[str, str | os.PathLike], numbers_json: str | os.PathLike,
                config: Mapping[str, Any] | None = None) -> dict:
    """Read the tables at ``paths``, fill every template (name -> file) and write each to
    ``outputs[name]``, and the numbers to ``numbers_json`` with a sidecar recording ``config``
    (the run's checked config: which run the numbers are of), atomically. Returns the numbers."""
    from hierphase.io import atomic_path, write_json, write_sidecar

    if set(templates) != set(outputs):
        raise ValueError(f"templates and outputs must name the same pages, got "
                         f"{sorted(templates)} and {sorted(outputs)}")
    numbers = extract_numbers(paths)
    pages = {name: render(Path(templates[name]).read_text(), numbers) for name in templates}
    for name, text in pages.items():
        with atomic_path(outputs[name]) as tmp:
            tmp.write_text(text)
    write_json(numbers_json, numbers)
    write_sidecar(numbers_json, config=config,
                  tables={k: [str(p) for p in v] if isinstance(v, (list, tuple)) else str(v)
                          for k, v in paths.items()})
    return numbers
