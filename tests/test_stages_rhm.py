"""hierphase.stages.rhm, in process: sharding of the noise grid and pooling of rule draws. The RHM
workflow end to end: tests/test_workflow_rhm.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import RHM_KEPT_COLUMNS

from hierphase import population, rhm
from hierphase.correlations import tree_bins
from hierphase.stages import rhm as stage
from hierphase.stats import wilson_interval


def test_a_noise_value_gets_the_same_rows_in_any_shard():
    rules = rhm.sample_rules(8, 3, 2, 3, seed=1)
    trees = rhm.sample_trees(rules, 48, seed=2)
    kwargs = dict(seed=7, batch_size=20, experiment="x")
    one = stage.sweep_shard(rules, trees, "masking", [0.25, 0.5], **kwargs)
    other = stage.sweep_shard(rules, trees, "masking", [0.5, 0.75], **kwargs)
    pd.testing.assert_frame_equal(one[one["noise"] == 0.5].reset_index(drop=True),
                                  other[other["noise"] == 0.5].reset_index(drop=True))
    merged = stage.aggregate_kept([other, one])
    assert len(merged) == 3 * 4 and merged["noise"].is_monotonic_increasing
    assert list(merged.columns) == RHM_KEPT_COLUMNS


def test_pooling_rule_draws_weights_by_n_and_recomputes_the_interval():
    base = {"experiment": "x", "model": "bp", "process": "epsilon", "L": 2, "level": 0,
            "noise": 0.5, "t": np.nan, "t_over_T": np.nan, "ci_low": 0.0, "ci_high": 1.0}
    df = pd.DataFrame([{**base, "rule_seed": 0, "kept_marginal": 0.6, "kept_sampled": 0.5, "n": 100},
                       {**base, "rule_seed": 1, "kept_marginal": 0.9, "kept_sampled": 0.8, "n": 300},
                       {**base, "rule_seed": 0, "level": 1, "kept_marginal": 0.7,
                        "kept_sampled": 0.6037, "n": 100}])
    pooled = stage.pool_rule_seeds(df)
    assert (pooled["ci_low"] <= pooled["kept_sampled"]).all()
    assert (pooled["kept_sampled"] <= pooled["ci_high"]).all()
    row = pooled.iloc[0]
    assert row["n"] == 400 and row["n_rule_draws"] == 2
    assert row["kept_marginal"] == pytest.approx(0.825)
    assert row["kept_sampled"] == pytest.approx(0.725)
    low, high = wilson_interval(290, 400)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))


# ----------------------------------------------------------------------------- change correlations
def _exact_binned_correlations(rules, trees, evidences):
    """C by tree distance at every level, averaged over x0, by enumerating the posterior: for each
    x0, ``evidences(i)`` lists (log-evidence (d, v), probability) of its noise realisations; the
    spin moments are posterior expectations averaged over them. Shares nothing with BP."""
    from brute_force import all_data_recursive

    data = all_data_recursive(rules)
    leaves = data[-1]
    out = [np.zeros(level + 1) for level in range(rules.L + 1)]
    n_x0 = trees[0].shape[0]
    for i in range(n_x0):
        m1 = [np.zeros(rules.s**level) for level in range(rules.L + 1)]
        m2 = [np.zeros((rules.s**level,) * 2) for level in range(rules.L + 1)]
        for ev, weight in evidences(i):
            ev = ev.numpy()
            loglik = sum(ev[j, leaves[:, j]] for j in range(rules.d))
            post = np.exp(loglik - loglik.max())
            post /= post.sum()
            for level in range(rules.L + 1):
                sig = np.where(data[level] != trees[level][i].numpy(), 1.0, -1.0)
                m1[level] += weight * post @ sig
                m2[level] += weight * sig.T @ (post[:, None] * sig)
        for level in range(rules.L + 1):
            cov = m2[level] - np.outer(m1[level], m1[level])
            nodes = rules.s**level
            for a in range(nodes):
                for b in range(nodes):
                    k = 0
                    while a // rules.s**k != b // rules.s**k:
                        k += 1
                    out[level][k] += cov[a, b] / n_x0
    return [p / tree_bins(rules.s, level).n_pairs for level, p in enumerate(out)]


@pytest.mark.parametrize("process", ["epsilon", "masking"])
def test_bp_change_correlations_match_the_enumerated_posterior(process):
    """Pair change statistics of forward-backward with BP sampling (n_traj runs per x0) against
    exact posterior expectations by enumeration (and, for masking, over every mask, each leaf
    masked independently), at every
    level and tree distance, within 5 standard errors of the sampled estimate."""
    import itertools

    import torch

    from hierphase import noise

    rules = rhm.sample_rules(3, 2, 2, 2, seed=5)
    n_x0, n_traj = 6, 20000
    trees = rhm.sample_trees(rules, n_x0, seed=3)
    value = 0.6 if process == "epsilon" else 0.5
    if process == "epsilon":
        def evidences(i):
            return [(noise.epsilon_evidence(trees[-1][i:i + 1], value, rules.v)[0], 1.0)]
    else:
        masks = list(itertools.product([False, True], repeat=rules.d))  # each leaf on its own

        def evidences(i):
            out = []
            for hidden in masks:
                mask = torch.tensor([hidden])
                k = sum(hidden)
                out.append((noise.masking_evidence(trees[-1][i:i + 1], mask, rules.v)[0],
                            value**k * (1 - value) ** (rules.d - k)))
            return out

    exact = _exact_binned_correlations(rules, trees, evidences)
    corr, chi = stage.correlation_shard(rules, trees, process, [value], seed=4, n_x0=n_x0,
                                        n_traj=n_traj, n_boot=20)
    tol = 5 / np.sqrt(n_x0 * n_traj)
    for level in range(rules.L + 1):
        got = corr[corr["level"] == level].sort_values("distance")["C"].to_numpy()
        # the estimator's population covariance has mean C (1 - 1/n_traj)
        np.testing.assert_allclose(got, exact[level] * (1 - 1 / n_traj), atol=tol, rtol=0)
        assert np.abs(exact[level]).max() > 10 * tol  # something to compare at every level
    # chi of the leaves from the exact bins
    n_pairs = tree_bins(rules.s, rules.L).n_pairs
    chi_exact = (exact[rules.L] * n_pairs).sum() / (exact[rules.L][0] * n_pairs[0])
    leaves = chi[chi["level"] == rules.L].iloc[0]
    assert leaves["chi"] == pytest.approx(chi_exact, abs=0.05)
    assert leaves["chi_lo"] <= leaves["chi"] <= leaves["chi_hi"]


def test_correlation_shards_are_shard_independent_and_deterministic():
    rules = rhm.sample_rules(8, 3, 2, 3, seed=1)
    trees = rhm.sample_trees(rules, 20, seed=2)
    kwargs = dict(seed=7, n_x0=12, n_traj=16, n_boot=50, experiment="x")
    for process in ("epsilon", "gaussian"):
        one = stage.correlation_shard(rules, trees, process, [0.25, 0.5], **kwargs)
        other = stage.correlation_shard(rules, trees, process, [0.5, 0.75], **kwargs)
        for a, b in zip(one, other):
            pd.testing.assert_frame_equal(a[a["noise"] == 0.5].reset_index(drop=True),
                                          b[b["noise"] == 0.5].reset_index(drop=True))
        # a datum's runs depend on its index, not on the other x0 measured with it
        fewer = stage.correlation_shard(rules, trees, process, [0.5], **{**kwargs, "n_x0": 6})
        again = stage.correlation_shard(rules, [t[:6] for t in trees], process, [0.5],
                                        **{**kwargs, "n_x0": 6})
        pd.testing.assert_frame_equal(fewer[0], again[0])


def test_correlation_tables_have_the_documented_layout():
    from hierphase.tables import CORRELATIONS_TABLE_COLUMNS, SUSCEPTIBILITY_TABLE_COLUMNS

    rules = rhm.sample_rules(8, 3, 2, 3, seed=1)
    trees = rhm.sample_trees(rules, 8, seed=2)
    corr, chi = stage.correlation_shard(rules, trees, "masking", [0.0, 0.5], seed=1, n_x0=8,
                                        n_traj=8, n_boot=10, experiment="x")
    assert list(corr.columns) == CORRELATIONS_TABLE_COLUMNS
    assert list(chi.columns) == SUSCEPTIBILITY_TABLE_COLUMNS
    assert set(corr["family"]) == {"rhm"} and set(corr["model"]) == {"bp"}
    assert len(chi) == 2 * (rules.L + 1) and len(corr) == 2 * sum(range(1, rules.L + 2))
    clean = chi[chi["noise"] == 0.0]
    # nothing changes without noise: no fluctuation, chi undefined, the class always kept
    assert clean["chi"].isna().all() and (clean["class_kept"] == 1.0).all()
    assert (corr[corr["noise"] == 0.0]["C"] == 0.0).all()
    noisy = chi[chi["noise"] == 0.5]
    assert noisy["t_over_T"].eq(0.5).all() and (noisy["class_kept"] < 1).all()
    merged = stage.aggregate_correlations([corr, corr.iloc[::-1]], CORRELATIONS_TABLE_COLUMNS)
    pd.testing.assert_frame_equal(merged, stage.aggregate_correlations([corr],
                                                                       CORRELATIONS_TABLE_COLUMNS))


def test_the_first_stages_draw_rules_then_trees_from_their_seeds():
    rules = stage.draw_rules(8, 3, 2, 3, n_classes=None, seed=4)
    assert rules.v == 8 and rules.L == 3
    again = rhm.sample_rules(8, 3, 2, 3, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(rules.tables, again.tables))
    trees = stage.draw_data(rules, 5, seed=6)
    assert [tuple(t.shape) for t in trees] == [(5, 1), (5, 2), (5, 4), (5, 8)]
    assert all(np.array_equal(a, b) for a, b in zip(trees, rhm.sample_trees(rules, 5, seed=6)))


def test_a_control_shard_runs_the_named_control_with_its_spec():
    from hierphase.noise import GaussianSchedule

    spec = {"v": 6, "n_classes": None, "d": 4, "scale": 1.0, "n_x0": 2, "n_traj": 3, "n_boot": 5,
            "shape": [4, 4], "exponent": 2.0}
    schedule = GaussianSchedule()
    mixture = stage.control_shard("flat_mixture", spec, "epsilon", [0.5], seed=3,
                                  schedule=schedule, experiment="flat_mixture")
    direct = stage.flat_mixture_shard(6, 6, 4, 1.0, "epsilon", [0.5], 3, 2, 3, schedule,
                                      n_boot=5, experiment="flat_mixture")
    for got, want in zip(mixture, direct):
        pd.testing.assert_frame_equal(got, want)
    field = stage.control_shard("gaussian_field", spec, "gaussian", [0.5], seed=3,
                                schedule=schedule, experiment="gaussian_field")
    for got, want in zip(field, stage.gaussian_field_shard([4, 4], 2.0, [0.5], 3, 2, 3, schedule,
                                                           n_boot=5)):
        pd.testing.assert_frame_equal(got, want)
    with pytest.raises(ValueError, match="control"):
        stage.control_shard("white_noise", spec, "epsilon", [0.5], seed=3, schedule=schedule,
                            experiment="x")


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_the_random_code_and_permuted_rhm_controls_run_from_their_specs(tmp_path):
    """A random code per length, with as many codewords as the annealed flip needs; the
    permuted RHM reads the experiment's rules and trees from the files it is given."""
    from hierphase import controls, io, theory
    from hierphase.noise import GaussianSchedule

    schedule = GaussianSchedule()
    spec = {"v": 2, "d": [4, 8], "flip_noise": 0.73, "n_x0": 3, "n_traj": 4, "n_boot": 5}
    corr, chi = stage.control_shard("random_code", spec, "epsilon", [0.6, 0.9], seed=2,
                                    schedule=schedule, experiment="random_code")
    assert set(chi["family"]) == {"random_code"} and sorted(chi["L"].unique()) == [2, 3]
    code = controls.RandomCode.from_seed(2, theory.code_size(2, 8, 0.73), 8,
                                         seed=stage.derive_seed(2, "d", 8, "code"))
    want = controls.random_code_correlations(code, [0.6, 0.9], n_x0=3, n_traj=4, n_boot=5,
                                             seed=stage.derive_seed(2, "d", 8))
    pd.testing.assert_frame_equal(chi[chi["L"] == 3].reset_index(drop=True), want[1])
    rules = rhm.sample_rules(8, 3, 2, 3, seed=0)
    trees = rhm.sample_trees(rules, 6, seed=1)
    rhm.save_rules(rules, tmp_path / "rules.pt")
    io.save_tensors(tmp_path / "trees.pt", {"levels": trees})
    paths = {"rules": str(tmp_path / "rules.pt"), "trees": str(tmp_path / "trees.pt")}
    spec = {"n_x0": 4, "n_traj": 4, "n_boot": 5, "rule_seed": 0}
    corr, chi = stage.control_shard("permuted_rhm", spec, "epsilon", [0.5], seed=2,
                                    schedule=schedule, experiment="permuted_rhm", inputs=paths)
    direct = controls.permuted_leaf_correlations(
        rules, [t[:4] for t in trees], [0.5], n_traj=4, seed=2, n_boot=5, rule_seed=0,
        permutation_seed=stage.derive_seed(2, "permutation"), experiment="permuted_rhm")
    pd.testing.assert_frame_equal(chi, direct[1])
    with pytest.raises(ValueError, match="rules"):
        stage.control_shard("permuted_rhm", spec, "epsilon", [0.5], seed=2, schedule=schedule,
                            experiment="permuted_rhm")
    with pytest.raises(ValueError, match="epsilon-process only"):
        stage.control_shard("random_code", {**spec, "v": 2, "d": [4], "flip_noise": 0.7},
                            "masking", [0.5], seed=2, schedule=schedule, experiment="x")


def test_the_critical_point_is_set_side_by_side_for_experiments_at_the_population_points():
    """One row per method for an experiment at a population point, none for the others; z is
    the gap to the population dynamics over the errors combined (mean field: exact)."""
    from hierphase import theory

    replicas = [stage.population_replica(8, 3, 2, depths=[6, 8], n_per_value=20, replica=r,
                                         seed=1) for r in (0, 1, 2)]
    scaling = pd.DataFrame([dict(model="bp", process="epsilon", estimator=estimator,
                                 eps_star=0.70, eps_star_err=0.01, nu=nu, nu_err=0.2,
                                 L_range="4-8")
                            for estimator, nu in (("half_point_width_nu", 3.2),
                                                  ("half_point_corrected", 3.0),
                                                  ("half_point", 2.9), ("width_per_draw", 3.1))])
    exponents = pd.DataFrame([dict(experiment="a", model="bp", process="epsilon", L=L, nu=nu,
                                   nu_err=0.3) for L, nu in ((6, 2.0), (8, 3.0))])
    summary, extrapolation, windows, widths = stage.population_tables(replicas)
    table = stage.critical_estimates(
        summary, extrapolation, widths, {"a": scaling}, exponents,
        {"a": {"v": 8, "m": 3, "s": 2}, "b": {"v": 32, "m": 8, "s": 2}})
    assert len(summary) == 2 and list(summary["depth"]) == [6, 8]
    assert (summary["n_replicas"] == 3).all() and np.isnan(summary["nu"].iloc[0])
    assert list(table.columns) == stage.CRITICAL_ESTIMATE_COLUMNS
    # two depths: too few to extrapolate the population's half points over the depth
    assert list(table["method"]) == ["class-curve width", "class-curve half points, corrected",
                                     "class-curve width, per rule draw", "correlation lengths",
                                     "population dynamics, depth 8", "annealed mean field"]
    assert set(table["experiment"]) == {"a"}
    pop = summary.iloc[1]  # z is against the deepest population
    rows = table.set_index("method")
    assert rows.loc["correlation lengths", "nu"] == 3.0  # the deepest L
    assert rows.loc["class-curve width", "nu_z_vs_population"] == pytest.approx(
        (3.2 - pop["nu"]) / np.hypot(0.2, pop["nu_err"]))
    mf = rows.loc["annealed mean field"]
    assert mf["nu"] == pytest.approx(theory.nu(8, 3, 2)) and np.isnan(mf["nu_err"])
    assert mf["nu_z_vs_population"] == pytest.approx((mf["nu"] - pop["nu"]) / pop["nu_err"])
    assert np.isnan(rows.loc["population dynamics, depth 8", "nu_z_vs_population"])
    assert rows.loc["class-curve half points, corrected", "nu"] == 3.0
    per_draw = rows.loc["class-curve width, per rule draw"]
    assert per_draw["nu"] == 3.1 and np.isnan(per_draw["eps_star"])
    assert per_draw["detail"].startswith("exact BP, L = 4-8")
    assert widths.empty and list(widths.columns) == population.WIDTH_EXPONENT_COLUMNS


def test_the_population_widths_enter_the_critical_table_at_exact_bps_depths_and_the_deepest():
    """Widths planted on B d**(-1/nu): the row at exact BP's width range holds the fit over the
    width depths inside it (the same estimator at the same depths), the deepest row the three
    deepest; both read the planted nu, and the width-exponent table is returned whole."""
    replicas = [stage.population_replica(8, 3, 2, depths=[6, 8], n_per_value=20, replica=r,
                                         seed=1) for r in (0, 1, 2)]
    widths = [pd.DataFrame([dict(v=8, m=3, s=2, depth=j, n_per_value=20, replica=r,
                                 eps_90=0.7 - w / 2, eps_10=0.7 + w / 2, width=w)
                            for j in (4, 6, 8, 10, 12)
                            for w in [(1 + 0.1 * r) * 2.0 ** (-j / (3.0 + 0.1 * r))]],
                           columns=population.WIDTH_COLUMNS) for r in (0, 1, 2)]
    scaling = pd.DataFrame([dict(model="bp", process="epsilon", estimator="width", eps_star=np.nan,
                                 eps_star_err=np.nan, nu=3.1, nu_err=0.2, L_range="3-9",
                                 L_min=3, L_max=9)])
    summary, extrapolation, _, fits = stage.population_tables(replicas, widths)
    point = {"a": {"v": 8, "m": 3, "s": 2}}
    table = stage.critical_estimates(summary, extrapolation, fits, {"a": scaling}, None, point)
    assert len(fits) == 10  # every range of consecutive width depths of the one point
    rows = table.set_index("method")
    same = rows.loc["population dynamics, class-curve width"]
    assert same["nu"] == pytest.approx(3.1) and same["nu_err"] == pytest.approx(0.1 / math.sqrt(3))
    assert same["detail"] == "depths 4-8 (3), 3 of 3 replicas, exact BP's width over L = 3-9"
    assert np.isnan(same["eps_star"])
    deepest = rows.loc["population dynamics, class-curve width, deepest"]
    assert deepest["nu"] == pytest.approx(3.1) and deepest["detail"].startswith("depths 8-12 (3)")
    # without exact BP's width fit: all the width depths; with three width depths, the deepest
    # row would repeat that one and is left out
    table = stage.critical_estimates(summary, extrapolation, fits, {}, None, point)
    rows = table.set_index("method")
    assert rows.loc["population dynamics, class-curve width", "detail"].startswith("depths 4-12")
    three = [w[w["depth"] <= 8] for w in widths]
    table = stage.critical_estimates(summary, extrapolation,
                                     stage.population_tables(replicas, three)[3], {}, None, point)
    assert list(table["method"]).count("population dynamics, class-curve width, deepest") == 0
    assert "population dynamics, class-curve width" in set(table["method"])


def test_the_population_half_points_are_extrapolated_over_the_depth_as_exact_bps():
    """Replicas whose half points over the depth lie on eps*_r + A d**(-1/nu) (planted, eps*_r
    spread over replicas): each replica is extrapolated and the mean over replicas recovers the
    planted eps* and nu, with a correction to scaling from five depths; the other methods' nu are
    scored against it."""
    from hierphase import population

    rng = np.random.default_rng(3)
    rows = []
    for r in range(6):
        star = 0.73 + 1e-3 * rng.standard_normal()
        for depth in (6, 8, 10, 12, 16):
            rows.append(dict(v=8, m=3, s=2, depth=depth, n_per_value=50, replica=r,
                             eps_star=star - 0.4 * 2.0 ** (-depth / 1.9),
                             log_lambda=math.log(2) / 2.0 if depth == 16 else np.nan,
                             log_lambda_err=0.01 if depth == 16 else np.nan,
                             nu=2.0 if depth == 16 else np.nan, j_min=3, j_max=depth))
    replicas = pd.DataFrame(rows, columns=population.REPLICA_COLUMNS)
    table = population.extrapolate_replicas(replicas)
    assert list(table.columns) == population.EXTRAPOLATION_COLUMNS
    extrapolated = table.set_index("fit")
    plain = extrapolated.loc["half_points"]
    assert plain["n_fitted"] == 6 and (plain["depth_min"], plain["depth_max"]) == (6, 16)
    stars = replicas.groupby("replica")["eps_star"].max() + 0.4 * 2.0 ** (-16 / 1.9)
    assert plain["eps_star"] == pytest.approx(stars.mean(), abs=1e-6)
    assert plain["eps_star_err"] == pytest.approx(stars.std(ddof=1) / math.sqrt(6), rel=1e-3)
    assert plain["nu"] == pytest.approx(1.9, abs=1e-4)
    assert extrapolated.loc["half_points_corrected", "nu"] == pytest.approx(1.9, abs=0.01)

    summary, extrapolation, _, widths = stage.population_tables([replicas])
    pd.testing.assert_frame_equal(extrapolation, table)
    table = stage.critical_estimates(summary, extrapolation, widths, {}, None,
                                     {"a": {"v": 8, "m": 3, "s": 2}})
    rows = table.set_index("method")
    fit = rows.loc["population dynamics, half points over depth"]
    assert (fit["eps_star"], fit["nu"]) == (plain["eps_star"], plain["nu"])
    assert np.isnan(fit["nu_z_vs_population"]) and fit["detail"].startswith("depths 6-16")
    deep = rows.loc["population dynamics, depth 16"]
    assert deep["nu"] == pytest.approx(2.0)
    assert deep["nu_z_vs_population"] == pytest.approx(
        (deep["nu"] - fit["nu"]) / np.hypot(deep["nu_err"], fit["nu_err"]))


@pytest.mark.slow  # exact BP on 51 noise values, then the population's root finding
def test_exact_bp_and_population_agree_on_the_same_rules():
    """bp_against_population: exact BP's half point is where the kept table's marginal class curve
    crosses 1/2 by straight lines (numpy's interp), the population's the mean of SciPy's brentq
    roots of population.overlaps with the same rules (redrawn from their seed) and the same picks;
    on an RHM swept finely with many data the two methods agree."""
    from scipy.optimize import brentq

    from hierphase import population
    from hierphase.seeding import derive_seed

    v, m, s, L, rules_seed = 8, 3, 2, 3, 7
    rules = stage.draw_rules(v, m, s, L, n_classes=None, seed=rules_seed)
    trees = stage.draw_data(rules, 2000, seed=1)
    kept = stage.sweep_shard(rules, trees, "epsilon", np.linspace(0, 1, 51), seed=2,
                             batch_size=500, experiment="x", rule_seed=4)
    table = stage.bp_against_population(kept, [(L, 4, rules_seed)], experiment="x", v=v, m=m,
                                        s=s, n_classes=v, n_per_value=400, picks=3, seed=5)
    assert list(table.columns) == stage.SAME_RULES_COLUMNS and len(table) == 1
    row = table.iloc[0]
    curve = kept[kept.level == 0].sort_values("noise")
    assert row.eps_half_bp == pytest.approx(
        np.interp(0.5, curve.kept_marginal.to_numpy()[::-1], curve.noise.to_numpy()[::-1]))
    roots = [brentq(lambda e, k=k: population.overlaps(
        rules, [e], 400, derive_seed(5, "x", L, 4, k))[L, 0] - 0.5, 0.0, 1.0, xtol=1e-12)
        for k in range(3)]
    assert row.eps_half_population == pytest.approx(np.mean(roots), abs=1e-8)
    assert row.eps_half_population_err == pytest.approx(np.std(roots, ddof=1) / np.sqrt(3))
    assert abs(row.difference) < 0.01 and abs(row.z) < 3, row
    # the grid's own bias: the runs' mean curve on the sweep's noise values, read by straight lines
    grid = curve.noise.to_numpy()
    mean = np.mean([population.overlaps(rules, grid, 400, derive_seed(5, "x", L, 4, k))[L]
                    for k in range(3)], axis=0)
    assert row.grid_bias == pytest.approx(
        np.interp(0.5, mean[::-1], grid[::-1]) - row.eps_half_population, abs=1e-12)
