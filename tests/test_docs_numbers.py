"""The numbers the docs quote come from the tables (hierphase.stages.docs, rule docs_results).

- The template reads only numbers that a function makes, and every function is read.
- The smoke preset, run with the ``docs`` target, renders a page with a number (or ``n/a``
  where the table holds none) in every placeholder, each equal to an independent read of the
  tables (pandas on the parquet files, not the renderer's reader or its selections).
- The committed page is the template filled with the committed numbers (``docs/numbers.json``),
  and, where the default run's results are in the repository's ``results/``, the committed numbers
  are what the renderer reads from them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from hierphase.plan import load_plan_files
from hierphase.plan.docs import DOCS, TEMPLATES, docs_outputs, docs_tables
from hierphase.stages.docs import (DOCS_TABLES, MISSING, NUMBERS, extract_numbers, fmt, fmt_pm,
                                   fmt_signed, render, template_names)
from workflow_helpers import REPO, SMOKE, copy_workflow, run_snakemake, start_from

#: The committed numbers of the default run, beside the pages filled with them.
COMMITTED_NUMBERS = REPO / "docs" / "numbers.json"


def _template(page: str = "results") -> str:
    return (REPO / TEMPLATES[page]).read_text()


def _leaves(value, path=""):
    """(path, string) of every formatted value in a numbers tree."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


# ------------------------------------------------------------------------------ fast
def test_template_reads_every_number_function_and_nothing_else():
    names = set().union(*(template_names(_template(page)) for page in TEMPLATES))
    assert names == set(NUMBERS)


def test_render_names_what_is_missing_or_unknown():
    with pytest.raises(ValueError, match="rhm_theory"):
        render("eps* = {{ rhm_theory.eps_star }}", {})
    with pytest.raises(ValueError, match="not_a_number"):
        render("{{ not_a_number }}", {})
    with pytest.raises(TypeError, match="numbers"):
        render("{{ rhm_theory }}", [1])
    assert render("eps* = {{ rhm_theory.eps_star }}",
                  {"rhm_theory": {"eps_star": "0.7312"}}) == "eps* = 0.7312"


def test_formatting():
    assert fmt(0.73118, 4) == "0.7312"
    assert fmt(float("nan")) == MISSING and fmt(None) == MISSING and fmt(pd.NA) == MISSING
    assert fmt_pm(0.2498, 0.0161, 4) == "0.2498 ± 0.0161"
    assert fmt_pm(0.2498, float("nan"), 2) == "0.25"
    assert fmt_pm(float("nan"), 0.1) == MISSING
    assert [fmt_signed(x) for x in (0.0661, -0.0391, None)] == ["+0.066", "-0.039", MISSING]
    with pytest.raises(TypeError, match="value"):
        fmt("abc")
    with pytest.raises(ValueError, match="digits"):
        fmt(1.0, -1)


@pytest.mark.parametrize("preset", [[], [SMOKE]], ids=["default", "smoke"])
def test_docs_tables_are_tables_the_branches_make(preset):
    """Every table the rule reads is a target of an enabled branch (its parquet or its CSV), the
    mean-field tables those the class_vs_eps figure reads; every output stays under results/."""
    plan = load_plan_files(*preset, root=REPO)
    tables = docs_tables(plan)
    assert set(tables) == set(DOCS_TABLES)
    targets = set(plan.targets())
    figure = next(f for f in plan.figures() if f.rule == "rhm_fig_class_vs_eps")
    theory = tables.pop("theory")(SimpleNamespace())
    assert theory == figure.inputs["theory"](SimpleNamespace(experiment="main"))
    for name, path in tables.items():
        assert path.startswith("results/") and path.endswith(".parquet"), name
        assert path in targets or path.removesuffix(".parquet") + ".csv" in targets, (name, path)
    assert all(p.startswith(f"{DOCS}/") for p in docs_outputs().values())


def test_committed_page_is_the_template_filled_with_the_committed_numbers():
    if not COMMITTED_NUMBERS.exists():
        pytest.skip("docs/numbers.json is not committed yet: run `snakemake -c2 docs` after the "
                    "default run and copy the pages and numbers.json of results/docs/ into docs/")
    numbers = json.loads(COMMITTED_NUMBERS.read_text())
    for page in TEMPLATES:
        assert (REPO / "docs" / f"{page}.md").read_text() == render(_template(page), numbers), \
            f"docs/{page}.md differs from {TEMPLATES[page]} filled with docs/numbers.json"


def test_committed_numbers_are_the_default_runs():
    """Where the repository's results/ holds the default run's rendered numbers (their sidecar
    records the default config), the committed numbers are what the renderer reads from the
    tables there."""
    made = REPO / docs_outputs()["numbers"]
    meta = made.with_name(made.name.removesuffix(".json") + ".meta.json")
    if not meta.exists():
        pytest.skip(f"no default run's {docs_outputs()['numbers']} in this clone")
    default = load_plan_files(root=REPO).config
    recorded = json.loads(meta.read_text())["config"]
    if any(recorded.get(key) != json.loads(json.dumps(default[key]))
           for key in ("seed", "rhm", "learned", "images")):
        pytest.skip(f"{docs_outputs()['numbers']} is of another config than config.yaml")
    tables = {}
    for name, path in docs_tables(load_plan_files(root=REPO)).items():
        path = path(None) if callable(path) else path  # an input function (the theory tables)
        tables[name] = [REPO / p for p in path] if isinstance(path, list) else REPO / path
    assert json.loads(COMMITTED_NUMBERS.read_text()) == extract_numbers(tables)


# ------------------------------------------------------------------------------ smoke run
def _close(text: str, expected: float, digits: int) -> bool:
    """A number printed with ``digits`` decimals is ``expected`` rounded (``n/a`` for NaN)."""
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return text == MISSING
    return abs(float(text.replace(",", "").rstrip("%")) - expected) <= 0.51 * 10 ** -digits


def check_against_tables(numbers: dict, tables: dict[str, Path]) -> None:
    """Each number of ``numbers`` against a read of the parquet files (pandas, no sidecars)."""
    read = {name: pd.read_parquet(path) for name, path in tables.items() if name != "theory"}
    # mean field
    summary = read["theory_summary"].iloc[0]
    assert _close(numbers["rhm_theory"]["eps_star"], summary["eps_star"], 4)
    assert _close(numbers["rhm_theory"]["nu"], summary["nu"], 3)
    assert _close(numbers["rhm_theory"]["eps_star_long"], summary["eps_star"], 6)
    assert _close(numbers["rhm_theory"]["slope_long"], summary["slope_at_p_star"], 5)
    # BP marginal against samples: every row of the main experiment's exact-BP kept table
    kept = read["kept"].query("experiment == 'main' and model == 'bp'")
    diffs = (kept["kept_marginal"].to_numpy() - kept["kept_sampled"].to_numpy())
    assert _close(numbers["rhm_bp_vs_samples"]["mean"], float(abs(diffs).mean()), 3)
    assert _close(numbers["rhm_bp_vs_samples"]["max"], float(abs(diffs).max()), 3)
    assert numbers["rhm_bp_vs_samples"]["rows"].replace(",", "") == str(len(kept))
    # against mean field: the same (L, level, eps) in the per-depth mean-field tables
    theory = pd.concat([pd.read_parquet(p) for p in tables["theory"]])
    mf = {(int(r.L), int(r.level), round(r.eps, 6)): r.kept for r in theory.itertuples()}
    gaps = [abs(r.kept_marginal - mf[key]) for r in kept[kept.process == "epsilon"].itertuples()
            if (key := (int(r.L), int(r.level), round(r.noise, 6))) in mf]
    assert numbers["rhm_bp_vs_mean_field"]["points"].replace(",", "") == str(len(gaps))
    assert _close(numbers["rhm_bp_vs_mean_field"]["mean"], sum(gaps) / len(gaps), 4)
    assert _close(numbers["rhm_bp_vs_mean_field"]["max"], max(gaps), 3)
    # class at zero noise: the first noise value of each process
    classes = kept[kept["level"] == 0]
    low = [g.sort_values("noise")["kept_marginal"].iloc[0] for _, g in classes.groupby("process")]
    assert _close(numbers["rhm_class_extremes"]["zero_marginal"].split("-")[0], min(low), 3)
    # the deepest tree: where the class and the leaves make 10% and 90% of their fall
    deepest = kept[kept.L == kept.L.max()]
    for process, rows in deepest.groupby("process"):
        axis = "noise" if process == "epsilon" else "t_over_T"
        for name, level in (("class", 0), ("leaves", int(kept.L.max()))):
            curve = rows[rows.level == level].sort_values(axis)
            x, y = list(curve[axis]), list(curve.kept_marginal)
            y = [(v - y[-1]) / (y[0] - y[-1]) for v in y]
            for share, text in zip((0.9, 0.1), numbers["rhm_levels_deepest"][process][name]
                                   .split("-")):
                i = next(i for i in range(len(y) - 1) if y[i] >= share > y[i + 1])
                at = x[i] + (share - y[i]) / (y[i + 1] - y[i]) * (x[i + 1] - x[i])
                assert _close(text, at, 2), (process, name, share, text, at)
    # half points and fits
    points = read["scaling_points"]
    bp = points[(points.process == "epsilon") & (points.model == "bp")].sort_values("L")
    printed = numbers["rhm_half_points"]["epsilon_bp"]["half"].split(", ")
    assert len(printed) == len(bp)
    assert all(_close(p, e, 3) for p, e in zip(printed, bp["eps_half"]))
    scaling = read["scaling"].set_index(["process", "model", "estimator"])
    for process, model, estimator in scaling.index:
        row = scaling.loc[(process, model, estimator)]
        shown = numbers["rhm_scaling"][f"{process}_{model}_{estimator}"]
        if estimator not in ("width", "width_per_draw"):
            assert _close(shown["eps_star"].split(" ± ")[0], row["eps_star"], 4), shown
        if estimator in ("width", "width_per_draw", "half_point"):
            assert _close(shown["nu"].split(" ± ")[0], row["nu"], 2), shown
    # change correlations: chi_max of the main RHM per depth, exact BP, epsilon
    ex = read["exponents"]
    chi = ex[(ex.family == "rhm") & (ex.experiment == "main") & (ex.model == "bp")
             & (ex.process == "epsilon")].sort_values("L")["chi_max"]
    printed = numbers["rhm_correlations"]["chi_max"].split(", ")
    assert len(printed) == len(chi) and all(_close(p, e, 2) for p, e in zip(printed, chi))
    # per-level exponents: the widest window from k = 1 per depth
    lv = read["level_exponents"]
    lv = lv[(lv.experiment == "main") & (lv.model == "bp") & (lv.process == "epsilon")
            & (lv.k_min == 1)]
    widest = numbers["rhm_level_exponents"]["widest"]
    assert [int(w["L"]) for w in widest] == sorted(lv.L.unique())
    for w in widest:
        row = lv[lv.L == int(w["L"])].sort_values("k_max").iloc[-1]
        assert int(w["k_max"]) == row.k_max and _close(w["a"].split(" ± ")[0], row.a, 3)
        assert _close(w["gap_infinite"].lstrip("+"), row.a - row.a_mean_field_infinite, 3)
    # the signature: one printed row per measured epsilon group and size
    sig = read["signature"]
    sig = sig[(sig.process == "epsilon") & (sig.model != "mean_field")]
    rows = numbers["rhm_signature"]["rows"]
    assert len(rows) == len(sig)
    code = sig[sig.family == "random_code"].sort_values("d")
    printed = numbers["rhm_signature"]["code_chi_max"].split(", ")
    assert all(_close(p, e, 2) for p, e in zip(printed, code.chi_max)) and len(printed) == len(code)
    # the critical point: one row per method of the main RHM, every population point
    est = read["critical"]
    est = est[est.experiment == "main"]
    shown = numbers["rhm_critical"]["methods"]
    assert [r["method"] for r in shown] == list(est.method)
    for r, e in zip(shown, est.itertuples()):
        assert _close(r["nu"].split(" ± ")[0], e.nu, 3)
    # one printed point per (v, m, s): its deepest depth
    pop = read["population"]
    assert len(numbers["rhm_critical"]["points"]) == len(pop.groupby(["v", "m", "s"]))
    deepest = pop.sort_values("depth").groupby(["v", "m", "s"]).tail(1)
    assert sorted(int(p["depth"]) for p in numbers["rhm_critical"]["points"]) == sorted(
        deepest.depth)
    # the population's nu over windows of three depths, at the main RHM's point
    main = read["critical"].query("experiment == 'main'").iloc[0]
    windows = read["local_exponents"].query(f"v == {main.v} and m == {main.m} and s == {main.s}")
    shown = numbers["rhm_critical"]["windows"]
    assert len(shown) == len(windows) > 0
    for r, w in zip(shown, windows.sort_values(["depth_c", "depth_a"]).itertuples()):
        assert r["depths"] == f"{w.depth_a}, {w.depth_b}, {w.depth_c}"
        assert _close(r["nu"].split(" ± ")[0], w.nu, 3)
    # the population's nu from its widths: each consecutive pair of width depths, then all,
    # refitted here from the replicas' widths (log width against depth, slope -log s / nu)
    widths = pd.concat([pd.read_parquet(f) for f in Path(tables["critical"]).parent.glob(
        "population/s*/v*/m*/widths*.parquet")])
    widths = widths.query(f"v == {main.v} and m == {main.m} and s == {main.s}")
    depths = sorted(widths.depth.unique())
    shown = numbers["rhm_critical"]["widths"]
    assert [r["depths"] for r in shown] == (
        [f"{a}-{b}" for a, b in zip(depths, depths[1:])]
        + [f"{depths[0]}-{depths[-1]}"] * (len(depths) > 2)) and shown
    for r in shown:
        lo, hi = (int(x) for x in r["depths"].split("-"))
        nus = []
        for _, g in widths[(widths.depth >= lo) & (widths.depth <= hi)].groupby("replica"):
            slope = np.polyfit(g.depth * math.log(main.s), np.log(g.width), 1)[0]
            nus.append(-1 / slope)
        assert _close(r["nu"].split(" ± ")[0], float(np.mean(nus)), 3)
    # exact BP against the population RHM by RHM: the agreement and the spread per depth
    same = read["same_rules"].dropna(subset=["eps_half_bp", "eps_half_population", "z"])
    shown = numbers["rhm_same_rules"]
    assert int(shown["n"]) == len(same) > 0
    assert _close(shown["chi2_dof"], float((same.z ** 2).mean()), 2)
    assert _close(shown["max_abs_z"], float(same.z.abs().max()), 1)
    assert int(shown["n_below"]) == int((same.eps_half_bp < same.eps_half_population).sum())
    assert _close(shown["bp_err"], float(same.eps_half_bp_err.median()), 4)
    for r, (L, g) in zip(shown["depths"], same.groupby("L")):
        assert int(r["L"]) == L and _close(r["population"], g.eps_half_population.mean(), 4)
    # the depth estimate: the score counted again from the estimates
    est = read["depth_estimates"]
    held = est[est.role == "held_out"]
    shown = numbers["rhm_depth_estimate"]
    assert int(shown["n_held_out"]) == len(held) and len(shown["rows"]) == len(est)
    assert int(shown["n_exact"]) == int((held.L_hat == held.L).sum())
    assert _close(shown["max_abs_error"], (held.L_estimate - held.L).abs().max(), 2)
    # the deep per-level exponents: the depth estimate's RHMs
    lv = read["level_exponents"]
    lv = lv[(lv.experiment == "depth") & (lv.model == "bp") & (lv.process == "epsilon")
            & (lv.k_min == 1)]
    deep = numbers["rhm_level_exponents"]["deep"]
    assert [int(w["L"]) for w in deep] == sorted(lv.L.unique())[-3:]
    for w in deep:
        row = lv[lv.L == int(w["L"])].sort_values("k_max").iloc[-1]
        assert _close(w["a"].split(" ± ")[0], row.a, 3)
    # phase diagram: counts of points and of agreements on the transition's existence
    pdg = read["phase_diagram"]
    shown = numbers["rhm_phase_diagram"]
    assert int(shown["points"]) == len(pdg)
    agree = sum(bool(a) == bool(b) for a, b in zip(pdg.has_transition_mf, pdg.has_transition_bp))
    assert int(shown["agree"]) == agree
    assert int(shown["mf_only"]) == sum(bool(a) and not bool(b) for a, b in
                                        zip(pdg.has_transition_mf, pdg.has_transition_bp))
    # learned: one printed row per model
    ev = read["evaluation"]
    dist = read["distance"]
    assert len(numbers["learned_evaluation"]) == len(ev)
    for row in numbers["learned_evaluation"]:
        model = ev[(ev.process == row["process"]) & (ev.P == int(row["P"]))].iloc[0]
        assert _close(row["grammatical"], model["grammatical"], 3)
        assert _close(row["ci_low"], model["grammatical_ci_low"], 3)
        assert _close(row["memorized"], model["memorized"], 3)
        gap = dist[(dist.process == row["process"]) & (dist.P == int(row["P"]))].iloc[0]
        assert _close(row["gap"], gap["max_abs_diff"], 3)
        assert float(row["gap_at"]) == pytest.approx(gap["noise_at_max"])
    val = read["validity"]
    for row in numbers["learned_validity"]["rows"]:
        novel = val[(val.process == row["process"]) & (val.P == int(row["P"]))
                    & (val.samples == "novel")].sort_values("level")["tuples_valid"]
        assert all(_close(p, e, 3) for p, e in zip(row["novel"].split(" / "), novel))
    sc = read["sample_complexity"]
    sc = sc[sc.measure == "tuples_valid"]
    for process, shown in numbers["learned_sample_complexity"].items():
        for row in shown["rows"]:
            at = sc[(sc.process == process) & (sc.threshold == float(row["threshold"]))]
            for label, cell in zip(shown["levels"], row["cells"]):
                r = at[at.level == int(label.split()[1])].iloc[0]
                if cell.startswith("not reached"):
                    assert math.isinf(r.P_high) and cell.endswith(f"{r.P_low:,.0f}")
                elif cell.startswith("below"):
                    assert r.P_low == 0
                else:
                    assert cell.startswith(f"{r.P_star:,.0f} [")
    # learning curves: the step printed is the first at which the level passes the threshold
    lc = read["learning_curve"]
    lc = lc[(lc.samples == "novel") & (lc.P == lc.P.max())]
    threshold = float(numbers["learned_learning_curve"]["threshold"])
    for process in lc.process.unique():
        text = numbers["learned_learning_curve"][process]
        for level, verb, step in re.findall(r"level (\d+) (by|not by) step (\d+)", text):
            curve = lc[(lc.process == process) & (lc.level == int(level))].sort_values("step")
            passed = curve[curve.tuples_valid >= threshold]
            if verb == "by":
                assert int(passed.step.iloc[0]) == int(step)
            else:
                assert passed.empty and int(curve.step.iloc[-1]) == int(step)
    # learned change correlations: each model's largest gap; exact BP's peak of the leaves' chi
    cd = read["chi_distance"]
    for row in numbers["learned_correlations"]["models"]:
        model = cd[(cd.process == row["process"]) & (cd.P == float(row["P"].replace(",", "")))]
        assert _close(row["gap"], model.gap.iloc[0], 3)
        assert _close(row["err"], model.gap_err.iloc[0], 2)
        assert row["within"] == ("yes" if abs(model.gap.iloc[0]) <= model.gap_err.iloc[0] else "no")
    sus = read["learned_susceptibility"]
    for process, bp in numbers["learned_correlations"]["bp"].items():
        leaves = sus[(sus.model == "bp") & (sus.process == process) & (sus.level == sus.level.max())
                     & (sus.t_over_T > 0)]
        assert _close(bp["peak"], leaves.chi.max(), 2)
        assert float(bp["peak_at"]) == pytest.approx(leaves.t_over_T[leaves.chi.idxmax()])
    # images
    quality = read["quality"].set_index("metric")
    accuracy = quality.loc["classifier_held_out_accuracy"]
    assert _close(numbers["images_quality"]["accuracy"]["value"], accuracy["value"], 3)
    assert int(numbers["images_quality"]["accuracy"]["hits"]) == round(accuracy["value"]
                                                                     * accuracy["n"])
    ck = read["class_kept"]
    for item in numbers["images_class_kept"]["points"].split("; "):
        t_over_T, value = item.split(": ")
        expected = ck.loc[(ck.t_over_T - float(t_over_T)).abs() < 1e-9, "kept"]
        assert len(expected) == 1 and _close(value, expected.iloc[0], 3), item
    ps = read["patch_susceptibility"]
    shown = numbers["images_correlations"]
    for row in shown["rows"]:
        at = ps[(ps.t_over_T - float(row["t_over_T"])).abs() < 1e-9].set_index("embedding")
        for e, chi, xi in zip(shown["embeddings"], row["chi"], row["xi"]):
            digits = 1 if at.loc[e, "chi"] >= 10 else 2
            assert _close(chi.split(" [")[0], at.loc[e, "chi"], digits), (e, chi)
            assert _close(xi.split(" [")[0], at.loc[e, "xi"], 2), (e, xi)
    for e, peak in shown["peaks"].items():
        curve = ps[(ps.embedding == e) & (ps.t_over_T > 0)]
        assert float(peak["t_over_T"]) == pytest.approx(curve.loc[curve.chi.idxmax(), "t_over_T"])
    kept_curve = ck.sort_values("t_over_T")
    x, y = list(kept_curve.t_over_T), list(kept_curve.kept)
    falls = [i for i in range(len(y) - 1) if y[i] >= 0.5 > y[i + 1]]
    if falls:
        i = falls[0]
        assert _close(shown["class_half"], x[i] + (0.5 - y[i]) / (y[i + 1] - y[i])
                      * (x[i + 1] - x[i]), 2)
    else:
        assert shown["class_half"] == MISSING
    ls = read["layer_similarity"]
    layers = numbers["images_layer_similarity"]["layers"]
    assert sorted(layers) == sorted(ls.layer.unique())
    for row in numbers["images_layer_similarity"]["rows"]:
        at = ls[(ls.t_over_T - float(row["t_over_T"])).abs() < 1e-9].set_index("layer")
        assert all(_close(v, at.loc[layer, "similarity"], 2)
                   for layer, v in zip(layers, row["values"]))
    # MDLM on the grammar: every (P, t/T) row of the gap table, in order; the largest P's extremes
    gap = read["mdlm_gap"].sort_values(["P", "level"])
    mdlm = numbers["mdlm_grammar"]
    assert len(mdlm["rows"]) == len(gap)
    for row, r in zip(mdlm["rows"], gap.itertuples()):
        assert int(row["P"]) == r.P and _close(row["level"], r.level, 2)
        assert _close(row["grammatical"], r.grammatical, 3)
        lo, hi = row["grammatical_ci"].strip("[]").split(", ")
        assert _close(lo, r.grammatical_lo, 3) and _close(hi, r.grammatical_hi, 3)
        assert _close(row["class_model"], r.class_model, 3)
        assert _close(row["class_exact"], r.class_exact, 3)
        assert _close(row["chi_model"].split(" [")[0], r.chi_model, 2)
        assert _close(row["chi_exact"].split(" [")[0], r.chi_exact, 2)
        passed = {name for name, ok in (("grammatical", r.grammatical_ok), ("class", r.class_ok),
                                        ("chi", r.chi_within)) if ok}
        assert set(row["passes"].split(", ")) - {"none"} == passed, (row, passed)
    top = gap[gap.P == gap.P.max()]
    assert int(mdlm["P"]) == gap.P.max()
    assert _close(mdlm["grammatical_lo_min"], top.grammatical_lo.min(), 3)
    assert _close(mdlm["class_gap_max"], (top.class_model - top.class_exact).abs().max(), 3)
    assert mdlm["chi_within"] == f"{int(top.chi_within.sum())} of {len(top)}"
    # MDLM on text: every (denoiser, cutoff) row of the peaks table; r <= 10 by denoiser
    peaks = read["mdlm_peaks"]
    mdlm = numbers["mdlm_text"]
    assert sorted((r["model"], r["cutoff"]) for r in mdlm["rows"]) == sorted(
        zip(peaks.model, peaks.cutoff))
    by = peaks.set_index(["model", "cutoff"])
    for row in mdlm["rows"]:
        r = by.loc[(row["model"], row["cutoff"])]
        assert _close(row["t_chi_peak"], r.t_chi_peak, 2) and _close(row["t_xi_max"], r.t_xi_max, 2)
        assert _close(row["chi_peak"].split(" [")[0], r.chi_peak, 2)
        assert _close(row["xi_max"].split(" [")[0], r.xi_max, 1)
    # (n/a where the run has no such cutoff or denoiser: the smoke preset cuts at r <= 5 only)
    for key, cutoff, column, digits in (("r10", "r<=10", "chi_peak", 2),
                                        ("all_pairs", "all", "xi_max", 1)):
        for model, at in mdlm[key].items():
            expected = by.loc[(model, cutoff), column] if (model, cutoff) in by.index else np.nan
            assert _close(at[column], expected, digits), (key, model)


@pytest.mark.slow
def test_smoke_run_renders_every_number_from_its_tables(tmp_path, rhm_smoke):
    work = copy_workflow(tmp_path / "work")
    # every branch of the smoke preset, more than the RHM-only runs of the other tests; the RHM
    # branch's jobs are those of the session's run of it (conftest.py), which this one reuses
    start_from(work, rhm_smoke)
    run_snakemake(work, "-c2", "docs", configfile=SMOKE, timeout=3600)
    outputs = docs_outputs()
    numbers = json.loads((work / outputs["numbers"]).read_text())
    assert set(numbers) == set(NUMBERS)
    for path, leaf in _leaves(numbers):
        assert isinstance(leaf, str) and leaf, path
        if not re.search(r"\.(process|within|method|detail|group|peaks|role|exact|feature|"
                         r"experiments|model|cutoff|passes|"
                         r"(layers|embeddings|columns)\[\d+\])$", path):  # names
            assert re.search(r"\d", leaf) or leaf == "none" or \
                set(re.split(r"[,;] | / ", leaf)) == {MISSING}, (path, leaf)
    page = (work / outputs["results"]).read_text()
    assert "{{" not in page and "{%" not in page
    assert page == render(_template(), numbers)
    tables = {}
    for name, path in docs_tables(load_plan_files(SMOKE, root=REPO)).items():
        path = path(None) if callable(path) else path  # the mean-field tables' input function
        tables[name] = [work / p for p in path] if isinstance(path, list) else work / path
    check_against_tables(numbers, tables)
