"""The RHM branch of the workflow, end to end on the smoke preset in temporary copies.

One run (``-c2``, the session's ``rhm_smoke`` of conftest.py, which tests/test_slurm.py also
compares with) gives the tables, figures and report that most tests inspect. A second session run
(``rhm_killed_and_resumed``) makes the tables of depth L = 2 with ``-c1``, is killed mid-sweep and
resumed; its tables are compared byte for byte with the first (determinism whatever the cores,
and a resume that loses and changes nothing). Only the RHM branch runs (learned, images and grammar
are switched off by the ``only-rhm.yaml`` overlay), so these tests never run the other branches' jobs
(their rules files must still parse).
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import (RHM_CORR_TABLES, RHM_KEPT_COLUMNS, RHM_L2_TABLES, RHM_ONLY,
                              RHM_TABLES, SMOKE,
                              planned_jobs, run_snakemake, snakemake_command, table_bytes,
                              undeclared_results)

pytestmark = pytest.mark.slow
TABLE = RHM_TABLES[0]


def _smoke_config(work: Path) -> dict:
    return yaml.safe_load((work / SMOKE).read_text())["rhm"]["experiments"]["main"]


def _prepare(work: Path, extra: dict | None = None) -> list[str]:
    """Config files for a run of the RHM branch only (plus ``extra``, merged last)."""
    assert yaml.safe_load((work / RHM_ONLY).read_text()) == {"learned": {"enabled": False},
                                                            "images": {"enabled": False},
                                                            "grammar": {"enabled": False},
                                                            "mdlm": {"enabled": False}}
    files = [SMOKE, RHM_ONLY]
    if extra is not None:
        (work / "extra.yaml").write_text(yaml.safe_dump(extra))
        files.append("extra.yaml")
    return files


@pytest.fixture(scope="module")
def smoke(rhm_smoke) -> Path:
    """The smoke preset's RHM branch run once with -c2, then the report built from it (the
    session's run, shared with tests/test_slurm.py: see conftest.py)."""
    _prepare(rhm_smoke)  # checks the overlay is what this module says
    return rhm_smoke


def test_smoke_run_makes_every_figure_and_table(smoke):
    for name in ("class_vs_eps", "levels_vs_eps", "time_gaussian", "time_masking", "cobweb"):
        for ext in ("png", "pdf"):
            path = smoke / "results/rhm/figures/main" / f"{name}.{ext}"
            assert path.stat().st_size > 5000, path
    for name in ("controls", "main/chi", "main/c_of_r_epsilon", "main/c_of_r_masking",
                 "main/xi_scaling", "main/collapse", "no_transition/chi",
                 "no_transition/c_of_r_epsilon"):
        for ext in ("png", "pdf"):
            path = smoke / "results/rhm/figures/correlations" / f"{name}.{ext}"
            assert path.stat().st_size > 5000, path
    # no transition: no xi against |eps - eps*|, no collapse
    assert not (smoke / "results/rhm/figures/correlations/no_transition/collapse.png").exists()
    for stem in ("results/rhm/aggregate/main/kept", "results/rhm/theory/main/summary",
                 "results/rhm/theory/main/L2", "results/rhm/theory/main/L3"):
        for suffix in (".parquet", ".csv", ".meta.json"):
            assert (smoke / f"{stem}{suffix}").exists(), stem + suffix
    meta = yaml.safe_load((smoke / "results/rhm/sweep/main/L3/rules0/epsilon/shard0.meta.json")
                          .read_text())
    assert isinstance(meta["seed"], int) and meta["config"]["values"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert "torch" in meta["versions"]
    assert undeclared_results(smoke) == []
    html = (smoke / "report.html").read_text(errors="replace")
    for name in ("class_vs_eps.png", "levels_vs_eps.png", "time_gaussian.png", "cobweb.png"):
        assert name in html


def test_finite_size_scaling_tables_and_figures(smoke):
    """The smoke preset's finite-size scaling: every estimator of exact BP (epsilon, masking; with
    its per-draw width) and mean field (epsilon) over its three depths, the mean-field reference
    beside the epsilon rows."""
    from hierphase import theory
    from hierphase.tables import SCALING_COLUMNS, SCALING_POINT_COLUMNS

    exp = _smoke_config(smoke)
    spec = yaml.safe_load((smoke / SMOKE).read_text())["rhm"]["finite_size_scaling"]
    base = smoke / "results/rhm/scaling/main"
    table, points = (pd.read_parquet(base / f"{t}.parquet") for t in ("scaling", "points"))
    for name, df in (("scaling", table), ("points", points)):
        assert pd.read_csv(base / f"{name}.csv").shape == df.shape
        assert (base / f"{name}.meta.json").exists()
    assert list(table.columns) == SCALING_COLUMNS and list(points.columns) == SCALING_POINT_COLUMNS
    # exact BP also has the per-draw width (mean field has no rule draws)
    assert table.groupby(["process", "model"]).size().to_dict() == {
        ("epsilon", "bp"): 6, ("epsilon", "mean_field"): 5, ("masking", "bp"): 6}
    per_draw = table[table["estimator"] == "width_per_draw"]
    assert (per_draw["model"] == "bp").all() and per_draw["eps_star"].isna().all()
    depths = [L for L in exp["L"] if L >= spec["L_min"]]
    fitted = table[table["eps_star"].notna() | table["nu"].notna()]
    assert not fitted.empty and set(fitted["L_range"]) == {f"{min(depths)}-{max(depths)}"}
    eps = table[table["process"] == "epsilon"]
    assert np.allclose(eps["eps_star_mean_field"], theory.critical_noise(exp["v"], exp["m"], exp["s"]))
    assert table.loc[table["process"] == "masking", "nu_mean_field"].isna().all()
    assert set(points["L"]) == set(exp["L"]) and (points["eps_half_err"].dropna() > 0).all()
    for name in ("scaling_collapse", "scaling_extrapolation"):
        for ext in ("png", "pdf"):
            assert (smoke / f"results/rhm/figures/main/{name}.{ext}").stat().st_size > 5000
        assert f"{name}.png" in (smoke / "report.html").read_text(errors="replace")


def test_kept_table_schema_and_ranges(smoke):
    exp = _smoke_config(smoke)
    df = pd.read_parquet(smoke / TABLE)
    assert list(df.columns) == RHM_KEPT_COLUMNS
    assert pd.read_csv(smoke / TABLE.replace(".parquet", ".csv")).shape == df.shape
    assert set(df["process"]) == {"epsilon", "gaussian", "masking"}
    assert set(df["L"]) == set(exp["L"]) and (df["model"] == "bp").all()
    # one row per (process, L, noise value, level)
    n_values = {process: len({round(float(x), 6) for b in blocks
                              for x in np.linspace(b["start"], b["stop"], b["num"])})
                for process, blocks in exp["processes"].items()}
    assert len(df) == sum(n * (L + 1) for n in n_values.values() for L in exp["L"])
    assert not df.duplicated(["process", "L", "rule_seed", "noise", "level"]).any()
    for col in ("kept_marginal", "kept_sampled", "ci_low", "ci_high", "noise"):
        assert df[col].between(0, 1).all(), col
    assert (df["ci_low"] <= df["kept_sampled"] + 1e-12).all()
    assert (df["kept_sampled"] <= df["ci_high"] + 1e-12).all()
    assert (df["n"] == exp["n_samples"]).all()
    eps = df[df["process"] == "epsilon"]
    assert eps["t"].isna().all() and eps["t_over_T"].isna().all()
    timed = df[df["process"] != "epsilon"]
    assert np.allclose(timed["noise"], timed["t_over_T"])
    assert np.allclose(timed["t"], timed["t_over_T"] * 1000)


def test_class_kept_at_zero_and_full_noise(smoke):
    exp = _smoke_config(smoke)
    chance = 1.0 / (exp["n_classes"] or exp["v"])
    df = pd.read_parquet(smoke / TABLE)
    clean = df[df["noise"] == 0.0]
    assert len(clean) and np.allclose(clean["kept_marginal"], 1.0)
    assert (clean["kept_sampled"] == 1.0).all()
    full = df[(df["noise"] == 1.0) & (df["level"] == 0)]
    assert len(full) == 3 * len(exp["L"])
    # epsilon = 1 and masking everything leave uniform evidence: the posterior is the prior
    exact = full[full["process"] != "gaussian"]
    assert np.allclose(exact["kept_marginal"], chance, atol=1e-9)
    # Gaussian at t = T keeps sqrt(abar_T) ~ 6e-3 of the signal
    assert np.allclose(full["kept_marginal"], chance, atol=0.02)
    # posterior samples: pooled over processes and depths, within 4 standard errors of chance
    k, n = (full["kept_sampled"] * full["n"]).sum(), full["n"].sum()
    assert abs(k / n - chance) < 4 * math.sqrt(chance * (1 - chance) / n)
    # the class is lost before the leaves: at intermediate noise level 0 <= leaves (epsilon)
    mid = df[(df["process"] == "epsilon") & (df["noise"] == 0.5) & (df["L"] == max(exp["L"]))]
    assert mid.set_index("level")["kept_marginal"].is_monotonic_increasing


def test_theory_tables_match_closed_forms(smoke):
    exp = _smoke_config(smoke)
    v, m = exp["v"], exp["m"]
    summary = pd.read_parquet(smoke / "results/rhm/theory/main/summary.parquet").iloc[0]
    p_star = (m - 1) / (v - m)  # s = 2
    assert summary["p_star"] == pytest.approx(p_star)
    assert summary["eps_star"] == pytest.approx((1 - p_star) / (1 - 1 / v))
    # F'(p*) by central differences of the s = 2 map written out: F(p) = (p^2 + c (1 - p^2)) /
    # (p^2 + f (1 - p^2)), c = (m-1)/(v^2-1), f = (mv-1)/(v^2-1); nu = log 2 / log F'(p*)
    c, f = (m - 1) / (v**2 - 1), (m * v - 1) / (v**2 - 1)
    F = lambda p: (p * p + c * (1 - p * p)) / (p * p + f * (1 - p * p))  # noqa: E731
    slope = (F(p_star + 1e-6) - F(p_star - 1e-6)) / 2e-6
    assert summary["slope_at_p_star"] == pytest.approx(slope, rel=1e-8)
    assert summary["nu"] == pytest.approx(math.log(2) / math.log(slope), rel=1e-8)
    th = pd.read_parquet(smoke / "results/rhm/theory/main/L3.parquet")
    cls = th[th["level"] == 0].sort_values("eps")
    assert cls["kept"].iloc[0] == pytest.approx(1.0) and cls["kept"].iloc[-1] == pytest.approx(1 / v)
    assert set(th["level"]) == {0, 1, 2, 3}


def test_correlation_tables(smoke):
    """Both change-correlation tables: every experiment with correlations, exact BP per shard
    and mean field on the theory grid, the documented columns, and what must hold at the ends
    of the noise range."""
    from hierphase.tables import CORRELATIONS_TABLE_COLUMNS, SUSCEPTIBILITY_TABLE_COLUMNS

    config = yaml.safe_load((smoke / SMOKE).read_text())["rhm"]
    corr, chi = (pd.read_parquet(smoke / path) for path in RHM_CORR_TABLES)
    assert list(corr.columns) == CORRELATIONS_TABLE_COLUMNS
    assert list(chi.columns) == SUSCEPTIBILITY_TABLE_COLUMNS
    for path in RHM_CORR_TABLES:
        assert pd.read_csv(smoke / path.replace(".parquet", ".csv")).shape[0] > 0
    bp = chi[chi["model"] == "bp"]
    for name, exp in config["experiments"].items():
        spec = exp["correlations"]
        rows = bp[bp["experiment"] == name]
        assert set(rows["L"]) == set(spec["L"]) and set(rows["process"]) == set(spec["processes"])
        assert (rows["n_x0"] == spec["n_x0"]).all() and (rows["n_traj"] == spec["n_traj"]).all()
        # one row per (rule draw, process, L, noise value, level)
        n_values = sum(len({round(float(x), 6) for b in blocks
                            for x in np.linspace(b["start"], b["stop"], b["num"])})
                       for blocks in spec["processes"].values())
        draws = spec.get("rule_seeds") or exp["rule_seeds"]
        assert set(rows["rule_seed"]) == set(draws)
        assert len(rows) == len(draws) * n_values * sum(L + 1 for L in spec["L"])
        theory = chi[(chi["experiment"] == name) & (chi["model"] == "mean_field")]
        assert set(theory["L"]) == set(spec["L"]) and (theory["process"] == "epsilon").all()
        assert len(theory) == config["theory_points"] * len(spec["L"])
    assert set(chi["family"]) == {"rhm", "gaussian_field", "flat_mixture", "random_code",
                                  "rhm_permuted"}
    families = {"random_code": ("random_code", {"exact"}),
                "permuted_rhm": ("rhm_permuted", {"bp", "bp_permuted"})}
    for control, block in config["controls"].items():
        rows = chi[chi["experiment"] == control]
        family, models = families.get(control, (control, {"bp"}))
        assert set(rows["family"]) == {family} and set(rows["model"]) == models
        assert set(rows["process"]) == set(block["processes"])
        assert (rows["n_x0"] == block["n_x0"]).all() and (rows["n_traj"] == block["n_traj"]).all()
    field = chi[chi["family"] == "gaussian_field"].sort_values("noise")
    assert field["L"].isna().all() and field["class_kept"].isna().all()
    assert field["chi"].iloc[0] != field["chi"].iloc[0]  # t = 0: nothing changes, chi undefined
    mixture = chi[chi["family"] == "flat_mixture"]
    assert set(mixture["level"]) == {0, 1} and (mixture["L"] == 1).all()
    # clean tokens never change (the class may: classes overlap)
    clean = mixture[(mixture["noise"] == 0.0) & (mixture["level"] == 1)]
    assert len(clean) == 1 and clean["chi"].isna().all()
    exponents = pd.read_parquet(smoke / "results/rhm/correlations/exponents.parquet")
    assert set(exponents["experiment"]) == set(chi["experiment"])
    # the signature: one row per measured group with a depth; a random code per length
    from hierphase.controls import CONTROL_SUMMARY_COLUMNS
    from hierphase.scaling import LEVEL_EXPONENT_COLUMNS

    signature = pd.read_parquet(smoke / "results/rhm/correlations/signature.parquet")
    assert list(signature.columns) == CONTROL_SUMMARY_COLUMNS
    code = signature[signature["family"] == "random_code"]
    assert sorted(code["d"]) == sorted(config["controls"]["random_code"]["d"])
    assert code["tree"].all() and not signature[signature["family"] == "flat_mixture"]["tree"].any()
    assert set(signature["experiment"]) == set(chi["experiment"]) - {"gaussian_field"}
    levels = pd.read_parquet(smoke / "results/rhm/correlations/level_exponents.parquet")
    assert list(levels.columns) == LEVEL_EXPONENT_COLUMNS
    # masking at t = 0 changes nothing; at t = T the class is at chance
    masked = bp[bp["process"] == "masking"]
    assert masked[masked["noise"] == 0.0]["chi"].isna().all()
    assert (masked[masked["noise"] == 0.0]["class_kept"] == 1.0).all()
    leaves = bp[(bp["level"] == bp["L"]) & (bp["noise"] > 0) & (bp["noise"] < 1)]
    assert leaves["chi"].notna().all()
    assert (leaves["chi_lo"] <= leaves["chi"]).all() and (leaves["chi"] <= leaves["chi_hi"]).all()
    assert (corr["C_lo"] <= corr["C"] + 1e-12).all() and (corr["C"] <= corr["C_hi"] + 1e-12).all()
    assert not corr.duplicated(["experiment", "model", "process", "L", "rule_seed", "noise",
                                "level", "distance"]).any()


def test_rerun_plans_nothing(smoke):
    out = run_snakemake(smoke, "-n", configfile=_prepare(smoke)).stdout
    assert "Nothing to be done" in out, out[-3000:]
    assert planned_jobs(out) == []


def test_adding_one_depth_plans_only_its_jobs(smoke):
    exp = _smoke_config(smoke)
    new_L = max(exp["L"]) + 1
    files = _prepare(smoke, {"rhm": {"experiments": {"main": {"L": exp["L"] + [new_L]}}}})
    out = run_snakemake(smoke, "-n", configfile=files).stdout
    jobs = planned_jobs(out)
    counts: dict[str, int] = {}
    for rule, wildcards in jobs:
        counts[rule] = counts.get(rule, 0) + 1
        if "L" in wildcards:
            assert wildcards["L"] == str(new_L), (rule, wildcards)
    n_shards = sum(len(blocks) for blocks in exp["processes"].values())
    assert counts == {
        "rhm_rules": 1, "rhm_data": 1, "rhm_sweep": n_shards, "rhm_theory": 1,
        "rhm_aggregate": 1, "rhm_fig_class_vs_eps": 1, "rhm_fig_levels_vs_eps": 1,
        "rhm_fig_time": 2, "rhm_fig_cobweb": 1, "all": 1,
        # the finite-size scaling reads the kept table
        "rhm_scaling": 1, "rhm_fig_scaling_collapse": 1, "rhm_fig_scaling_extrapolation": 1,
        # the critical point reads the scaling table; exact BP against the population, RHM by
        # RHM, the kept table (and a new RHM)
        "rhm_critical": 1, "rhm_same_rules": 1,
    }, out[-4000:]
    # the cobweb reruns because its number of steps is the deepest L; the theory summary does not
    assert "rhm_theory_summary" not in counts


def test_growing_a_grid_plans_only_the_new_shard(smoke):
    exp = _smoke_config(smoke)
    blocks = exp["processes"]["epsilon"] + [{"values": [0.6, 0.65, 0.7]}]
    files = _prepare(smoke, {"rhm": {"experiments": {"main": {"processes": {"epsilon": blocks}}}}})
    jobs = planned_jobs(run_snakemake(smoke, "-n", configfile=files).stdout)
    sweeps = sorted((w["L"], w["process"], w["shard"]) for rule, w in jobs if rule == "rhm_sweep")
    assert sweeps == [(str(L), "epsilon", str(len(blocks) - 1)) for L in sorted(exp["L"])]
    assert {rule for rule, _ in jobs} == {"rhm_sweep", "rhm_aggregate", "rhm_fig_class_vs_eps",
                                          "rhm_fig_levels_vs_eps", "rhm_fig_time", "rhm_scaling",
                                          "rhm_fig_scaling_collapse",
                                          "rhm_fig_scaling_extrapolation", "rhm_critical",
                                          "rhm_same_rules", "all"}


def test_growing_a_correlation_grid_plans_only_the_new_shard(smoke):
    spec = _smoke_config(smoke)["correlations"]
    blocks = spec["processes"]["epsilon"] + [{"values": [0.7, 0.72]}]
    files = _prepare(smoke, {"rhm": {"experiments": {"main": {"correlations": {
        "processes": {"epsilon": blocks}}}}}})
    jobs = planned_jobs(run_snakemake(smoke, "-n", configfile=files).stdout)
    sweeps = sorted((w["L"], w["process"], w["shard"]) for rule, w in jobs
                    if rule == "rhm_corr_sweep")
    assert sweeps == [(str(L), "epsilon", str(len(blocks) - 1)) for L in sorted(spec["L"])]
    assert {rule for rule, _ in jobs} == {
        "rhm_corr_sweep", "rhm_corr_aggregate", "rhm_corr_exponents", "rhm_corr_fig_c_of_r",
        "rhm_corr_fig_chi", "rhm_corr_fig_xi_scaling", "rhm_corr_fig_collapse",
        "rhm_corr_fig_controls", "rhm_corr_fig_level_exponents", "rhm_corr_fig_signature",
        "rhm_critical", "rhm_depth", "rhm_fig_depth_estimate", "all"}


def test_phase_diagram_table_and_figures(smoke):
    """The smoke preset's three points: mean field's verdicts and eps* in the table, BP's half
    point and curves for every depth, both figures."""
    from hierphase.phase_diagram import mean_field_point
    from hierphase.tables import PHASE_DIAGRAM_COLUMNS, PHASE_KEPT_COLUMNS

    base = smoke / "results/rhm/phase_diagram"
    table = pd.read_parquet(base / "phase_diagram.parquet")
    kept = pd.read_parquet(base / "kept.parquet")
    assert list(table.columns) == PHASE_DIAGRAM_COLUMNS and list(kept.columns) == PHASE_KEPT_COLUMNS
    assert list(zip(table["s"], table["v"], table["m"])) == [(2, 4, 2), (2, 4, 3), (3, 3, 3)]
    assert list(table["has_transition_mf"]) == [True, False, True]
    for row in table.itertuples():
        mf = mean_field_point(row.v, row.m, row.s)
        assert row.eps_star_mf == pytest.approx(mf.eps_star, nan_ok=True)
        assert row.L == 3 and row.L_values == "2 3" and 0 < row.eps_half_bp < 1
    assert set(kept["L"]) == {2, 3} and (kept["level"] == 0).all()
    assert len(kept) == 3 * 2 * 5  # points x depths x eps values
    for name in ("plane", "eps_star"):
        for ext in ("png", "pdf"):
            assert (smoke / f"results/rhm/figures/phase_diagram/{name}.{ext}").stat().st_size > 5000


def test_adding_a_phase_point_plans_only_its_job(smoke):
    grids = yaml.safe_load((smoke / SMOKE).read_text())["rhm"]["phase_diagram"]["grids"]
    grids[0]["m"] = grids[0]["m"] + [4]
    files = _prepare(smoke, {"rhm": {"phase_diagram": {"grids": grids}}})
    jobs = planned_jobs(run_snakemake(smoke, "-n", configfile=files).stdout)
    assert [w for rule, w in jobs if rule == "rhm_phase_sweep"] == [
        {"s": "2", "v": "4", "m": "4", "rule_seed": "0"}]
    assert {rule for rule, _ in jobs} == {"rhm_phase_sweep", "rhm_phase_aggregate",
                                          "rhm_phase_table", "rhm_fig_phase_plane",
                                          "rhm_fig_phase_eps_star", "all"}


def test_defaults_fill_a_minimal_experiment(workflow_copy):
    minimal = {"v": 4, "m": 2, "L": [2], "processes": {"masking": [{"values": [0.5]}]}}
    files = _prepare(workflow_copy, {"rhm": {"experiments": {"tiny": minimal}}})
    out = run_snakemake(workflow_copy, "-n", "results/rhm/aggregate/tiny/kept.parquet",
                        configfile=files).stdout
    jobs = planned_jobs(out)
    assert ("rhm_sweep", {"experiment": "tiny", "L": "2", "rule_seed": "0", "process": "masking",
                          "shard": "0"}) in jobs  # rule_seeds defaults to [0]
    assert "mem_mb=" in out  # resources computed from the defaulted batch_size and s


def test_killed_sweep_resumes_with_rerun_incomplete(rhm_killed_and_resumed, smoke):
    """The session's L = 2 tables run with -c1, killed mid-sweep and resumed (conftest.py)."""
    run = rhm_killed_and_resumed
    work, done = run["work"], run["done"]
    assert done
    planned = {f"L{w['L']}/rules{w['rule_seed']}/{w['process']}/shard{w['shard']}"
               for rule, w in run["plan"] if rule == "rhm_sweep"}
    assert planned, "the kill came after the last shard: nothing left to resume"
    assert not {p for p in planned if any(str(f).endswith(p + ".parquet") for f in done)}
    assert {p: p.stat().st_mtime_ns for p in done} == done  # nothing finished was redone
    # the shards made before the kill and those made by the resume are the uninterrupted run's
    for table in RHM_L2_TABLES:
        assert (work / table).read_bytes() == (smoke / table).read_bytes(), table


def test_c1_and_c2_give_byte_identical_tables(rhm_killed_and_resumed, smoke):
    """The -c1 tables of L = 2 (made across a kill and a resume) equal the -c2 run's, byte for
    byte."""
    ours, reference = table_bytes(rhm_killed_and_resumed["work"]), table_bytes(smoke)
    # rules, data, 3 shards and the mean-field table of L = 2: parquet, CSV, sidecar; 2
    # correlation shards and their mean-field rows: 2 tables each, parquet and sidecar
    assert len(ours) == 14 + 12 and set(ours) <= set(reference)
    different = [path for path in ours if ours[path] != reference[path]]
    assert different == []


BAD_CONFIGS = {
    "wrong type": ({"v": "many"}, "rhm.experiments.main.v"),
    "m > v^(s-1)": ({"m": 9}, "rhm.experiments.main.m"),
    "unknown process": ({"processes": {"gauss": [{"start": 0.0, "stop": 1.0, "num": 3}]}},
                        "rhm.experiments.main.processes"),
    "out of range": ({"n_samples": 0}, "rhm.experiments.main.n_samples"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_invalid_config_fails_before_any_job_naming_the_key(workflow_copy, case):
    change, key = BAD_CONFIGS[case]
    files = _prepare(workflow_copy, {"rhm": {"experiments": {"main": change}}})
    proc = run_snakemake(workflow_copy, "-c1", configfile=files, check=False)
    assert proc.returncode != 0
    assert f"Invalid config key '{key}" in proc.stdout, proc.stdout[-3000:]
    if case == "unknown process":
        assert "gauss" in proc.stdout
    assert planned_jobs(proc.stdout) == []
    assert not (workflow_copy / "results").exists()


def _lints_by_file(output: str) -> dict[str, list[str]]:
    """``snakemake --lint`` output -> {snakefile or rule: [lint titles]}."""
    lints: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("Lints for "):
            current = line[len("Lints for "):].rstrip(":")
            lints[current] = []
        elif current and line.strip().startswith("* "):
            lints[current].append(line.strip()[2:])
    return lints


def _snakefmt_check(work: Path, *paths: str) -> subprocess.CompletedProcess:
    exe = Path(snakemake_command()[0]).with_name("snakefmt")
    return subprocess.run([str(exe) if exe.exists() else "snakefmt", "--check", *paths], cwd=work,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_lint_and_snakefmt_are_clean(workflow_copy):
    """The RHM files first (so a failure says whose), then the whole workflow, as CI requires."""
    ours = ("Snakefile", "workflow/rules/common.smk", "workflow/rules/rhm.smk")
    fmt = _snakefmt_check(workflow_copy, *ours)
    assert fmt.returncode == 0, fmt.stdout[-4000:]
    lint = run_snakemake(workflow_copy, "--lint", check=False)
    lints = _lints_by_file(lint.stdout)
    assert {k: v for k, v in lints.items() if k.endswith(ours) or k.startswith("rule rhm_")} == {}
    unformatted = [str(p.relative_to(workflow_copy)) for p in
                   sorted((workflow_copy / "workflow/rules").glob("*.smk"))
                   if _snakefmt_check(workflow_copy, str(p)).returncode != 0]
    assert unformatted == [], f"snakefmt --check fails for {unformatted}"
    assert lints == {} and lint.returncode == 0 and "Congratulations" in lint.stdout, \
        f"snakemake --lint reports {lints}"


def test_depth_estimate_tables_and_figure(smoke):
    """The smoke preset's depth estimate: the calibration line and every RHM's estimate, checked
    against chi's peak read off the susceptibility table and numpy's own line fit; the figure."""
    config = yaml.safe_load((smoke / SMOKE).read_text())["rhm"]
    block, exp = config["depth_estimate"], config["experiments"]["depth"]
    base = smoke / "results/rhm/depth"
    est, cal = (pd.read_parquet(base / f"{t}.parquet") for t in ("estimates", "calibration"))
    assert pd.read_csv(base / "calibration.csv").shape == cal.shape and len(cal) == 1
    chi = pd.read_parquet(smoke / "results/rhm/correlations/susceptibility.parquet")
    chi = chi[(chi.experiment == "depth") & (chi.model == "bp") & (chi.level == chi.L)]
    peak = chi.groupby(["L", "rule_seed"])["chi"].max()
    assert len(est) == len(peak) == len(exp["L"]) * len(exp["rule_seeds"])
    for r in est.itertuples():
        assert r.chi_max == pytest.approx(peak[(r.L, r.rule_seed)])
    in_cal = [(L, s) for L, s in peak.index
              if L in block["calibration"]["L"] and s in block["calibration"]["rule_seeds"]]
    beta, alpha = np.polyfit([peak[k] for k in in_cal], [k[0] for k in in_cal], 1)
    row = cal.iloc[0]
    assert (row["alpha"], row["beta"]) == pytest.approx((alpha, beta))
    held = est[est.role == "held_out"]
    assert len(held) == len(peak) - len(in_cal) == row["n_held_out"]
    assert held["L_estimate"].to_numpy() == pytest.approx(alpha + beta * held["chi_max"].to_numpy())
    assert row["n_exact"] == int((np.round(held["L_estimate"]) == held["L"]).sum())
    for ext in ("png", "pdf"):
        assert (smoke / f"results/rhm/figures/depth/depth_estimate.{ext}").stat().st_size > 5000
