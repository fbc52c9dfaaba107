"""hierphase.population: density evolution of BP's upward messages against exact BP on the same
rules, and its critical point against its own class curves."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from hierphase import bp, noise, population, rhm, theory


def test_root_overlap_equals_exact_bp_class_curve_on_the_same_rules():
    """Subtrees are independent given their roots' values: the population's root mean is exact
    BP's mean class posterior for these rules, up to sampling (data and population)."""
    rules = rhm.sample_rules(8, 3, 2, 4, seed=0)
    trees = rhm.sample_trees(rules, 3000, seed=1)
    eps = [0.2, 0.5, 0.65, 0.8]
    got = population.overlaps(rules, eps, 3000, seed=2)
    assert got.shape == (5, 4)
    assert got[0] == pytest.approx(1 - np.asarray(eps) * (1 - 1 / 8))  # leaves: the evidence
    for i, e in enumerate(eps):
        post = bp.class_posterior(rules, noise.epsilon_evidence(trees[-1], e, 8))
        kept = torch.gather(post, 1, trees[0])[:, 0].numpy()
        se = kept.std() / math.sqrt(len(kept))
        # population noise is of the same order as the data's (3000 messages per value)
        assert abs(got[-1, i] - kept.mean()) < 5 * math.sqrt(2) * se + 1e-3


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_critical_point_splits_the_flow_and_lambda_is_the_growth_of_the_slope():
    rules = rhm.sample_rules(8, 3, 2, 16, seed=5)
    cp = population.critical_point(rules, 2000, seed=6, bracket=(0.5, 0.9), tol=1e-8)
    thr = 0.5  # the default threshold: the class curve's half point
    below, above = population.overlaps(rules, [cp.eps_star - 1e-3, cp.eps_star + 1e-3], 2000,
                                       seed=6)[-1]
    assert below > thr > above
    # near mean field's eps* (annealed: the same fixed point in the average over rules)
    assert cp.eps_star == pytest.approx(theory.critical_noise(8, 3, 2), abs=0.05)
    j0, j1 = cp.levels
    assert j1 - j0 >= 4 and np.isfinite(cp.nu)
    ratios = np.log(cp.derivative[j0 + 1:j1 + 1] / cp.derivative[j0:j1])
    assert np.mean(ratios) == pytest.approx(cp.log_lambda, abs=0.1)
    assert cp.nu == pytest.approx(math.log(2) / cp.log_lambda)
    with pytest.raises(ValueError, match="straddle"):
        population.critical_point(rules, 200, seed=6, bracket=(0.0, 0.3))


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_replica_summary_errors_are_the_spread_over_replicas():
    reps = population.replica_estimates(8, 3, 2, depths=[10], n_per_value=300, replicas=[0, 1, 2],
                                        seed=0, bracket=(0.4, 0.95), tol=1e-6)
    assert list(reps.columns) == population.REPLICA_COLUMNS and len(reps) == 3
    summary = population.summarise_replicas(reps).iloc[0]
    assert summary["eps_star"] == pytest.approx(reps["eps_star"].mean())
    assert summary["eps_star_err"] == pytest.approx(reps["eps_star"].std(ddof=1) / math.sqrt(3))
    assert summary["nu"] == pytest.approx(math.log(2) / reps["log_lambda"].mean())
    with pytest.raises(ValueError, match="eps"):
        population.leaf_population([1.5], 4)
    with pytest.raises(ValueError, match="n_per_value"):
        population.overlaps(rhm.sample_rules(8, 3, 2, 2, seed=0), [0.5], 0, seed=0)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_half_points_of_every_depth_from_one_run_are_each_depths_own_root():
    """The half points found together (regula falsi, one overlaps call per step) equal each
    depth's own root found by SciPy's brentq on the same population's p_j; a replica's run gives
    the deepest one again, and its shallower half points lie below (the curves steepen and move
    towards eps*)."""
    from scipy.optimize import brentq

    rules = rhm.sample_rules(8, 3, 2, 12, seed=4)
    depths = [4, 6, 9, 12]
    got = population.half_points(rules, 100, 7, depths, bracket=(0.3, 0.95))
    for j, eps in zip(depths, got):
        ref = brentq(lambda e: population.overlaps(rules, [e], 100, 7)[j, 0] - 0.5, 0.3, 0.95,
                     xtol=1e-12)
        assert eps == pytest.approx(ref, abs=1e-8)
    reps = population.replica_estimates(8, 3, 2, depths=[4, 6, 9, 12], n_per_value=100,
                                        replicas=[0], seed=0, bracket=(0.3, 0.95))
    assert list(reps["depth"]) == [4, 6, 9, 12] and reps["nu"].notna().tolist() == [False] * 3 + [True]
    cp = population.critical_point(rhm.sample_rules(8, 3, 2, 12, seed=population.derive_seed(
        0, "population.rules", 0)), 100, population.derive_seed(0, "population.replica", 0),
        bracket=(0.3, 0.95))
    assert reps["eps_star"].iloc[-1] == pytest.approx(cp.eps_star, abs=1e-8)
    assert reps["nu"].iloc[-1] == pytest.approx(cp.nu, rel=1e-6)
    with pytest.raises(ValueError, match="depths"):
        population.half_points(rules, 100, 7, [13])
    with pytest.raises(ValueError, match="straddle"):
        population.half_points(rules, 100, 7, [4], bracket=(0.0, 0.1))


def test_local_exponents_read_nu_from_three_depths_without_eps_star():
    """On half points of the exact form eps* - A s**(-j/nu) (eps* and A different per replica),
    every window of three equally spaced depths gives nu back, whatever eps* and A; a replica
    whose half points fall over a window is left out of it."""
    s, nu = 2, 1.9
    depths = [6, 8, 10, 12, 16, 20]
    rows = []
    for r, (eps_star, amplitude) in enumerate([(0.731, 0.4), (0.733, 0.3), (0.729, 0.5)]):
        for j in depths:
            rows.append(dict(v=32, m=8, s=s, depth=j, n_per_value=200, replica=r,
                             eps_star=eps_star - amplitude * s ** (-j / nu)))
    rows.append(dict(v=32, m=8, s=s, depth=20, n_per_value=100, replica=0, eps_star=0.7))
    table = population.local_exponents(pd.DataFrame(rows))
    assert list(table.columns) == population.LOCAL_EXPONENT_COLUMNS
    main = table[table.n_per_value == 200]
    windows = [tuple(w) for w in main[["depth_a", "depth_b", "depth_c"]].to_numpy()]
    assert windows == [(6, 8, 10), (8, 10, 12), (8, 12, 16), (12, 16, 20)]
    np.testing.assert_allclose(main.nu, nu, rtol=1e-9)
    assert (main.n_valid == 3).all() and (main.nu_err < 1e-9).all()
    # a replica whose half points fall between 8 and 10 is left out of the windows through 10
    bad = pd.DataFrame(rows)
    bad.loc[(bad.replica == 1) & (bad.depth == 10) & (bad.n_per_value == 200), "eps_star"] = 0.5
    again = population.local_exponents(bad)
    again = again[again.n_per_value == 200].set_index(["depth_a", "depth_b", "depth_c"])
    assert again.loc[(6, 8, 10), "n_valid"] == 2 and again.loc[(8, 10, 12), "n_valid"] == 2
    assert again.loc[(12, 16, 20), "n_valid"] == 3


def test_widths_are_crossings_of_the_same_replicas_class_curve():
    """replica_widths runs each depth alone (leaf_side); redrawn independently from the seeds
    replica_estimates uses and run to the deepest level, the population crosses the normalised
    0.9 and 0.1 at eps_90 and eps_10 at that depth, and the replica's half point there lies
    between them."""
    from hierphase.seeding import derive_seed

    v, n, seed = 8, 30, 4
    widths = population.replica_widths(v, 3, 2, depths=[6, 8], width_depths=[4, 6], n_per_value=n,
                                       replicas=[0, 1], seed=seed)
    halves = population.replica_estimates(v, 3, 2, depths=[6, 8], n_per_value=n, replicas=[0, 1],
                                          seed=seed)
    assert list(widths.columns) == population.WIDTH_COLUMNS and len(widths) == 4
    assert widths["width"].to_numpy() == pytest.approx((widths["eps_10"] - widths["eps_90"]))
    for row in widths.itertuples():
        rules = rhm.sample_rules(v, 3, 2, 8, seed=derive_seed(seed, "population.rules", row.replica))
        picks = derive_seed(seed, "population.replica", row.replica)
        p = population.overlaps(rules, [row.eps_90, row.eps_10], n, picks)[row.depth]
        assert (p - 1 / v) / (1 - 1 / v) == pytest.approx([0.9, 0.1], abs=1e-7)
        if row.depth == 6:
            half = halves.query(f"replica == {row.replica} and depth == 6")["eps_star"].item()
            assert row.eps_90 < half < row.eps_10


def test_leaf_side_keeps_the_levels_nearest_the_leaves():
    rules = rhm.sample_rules(4, 2, 2, 5, seed=0)
    part = population.leaf_side(rules, 3)
    assert part.L == 3 and all(a is b for a, b in zip(part.tables, rules.tables[2:]))
    np.testing.assert_array_equal(population.overlaps(part, [0.4], 10, seed=1),
                                  population.overlaps(rules, [0.4], 10, seed=1)[:4])
    with pytest.raises(ValueError, match="depth"):
        population.leaf_side(rules, 6)
    with pytest.raises(ValueError, match="n_classes"):
        population.leaf_side(rhm.sample_rules(4, 2, 2, 5, n_classes=2, seed=0), 3)


def test_width_exponents_read_nu_from_the_widths_fall_over_each_range_of_depths():
    """Widths B_r s**(-j/nu_r) per replica: every range of consecutive depths gives each
    replica's nu exactly (a straight line in log width against j log s); the mean and standard
    error are over replicas, and a replica whose widths do not all fall, or reach zero, gives
    none."""
    nus = [1.8, 1.9, 2.1]
    rows = [dict(v=4, m=2, s=3, depth=j, n_per_value=10, replica=r, eps_90=0.5, eps_10=0.5 + w,
                 width=w)
            for r, nu in enumerate(nus) for j in (2, 3, 5)
            for w in [(1 + r) * 3.0 ** (-j / nu)]]
    rows.append(dict(v=4, m=2, s=3, depth=2, n_per_value=10, replica=3, eps_90=0.5, eps_10=0.6,
                     width=0.1))
    rows += [dict(v=4, m=2, s=3, depth=j, n_per_value=10, replica=3, eps_90=0.5, eps_10=0.5,
                  width=0.0) for j in (3, 5)]
    table = population.width_exponents(pd.DataFrame(rows, columns=population.WIDTH_COLUMNS))
    assert list(table.columns) == population.WIDTH_EXPONENT_COLUMNS
    assert [(r.depth_min, r.depth_max, r.n_depths) for r in table.itertuples()] == [
        (2, 3, 2), (2, 5, 3), (3, 5, 2)]
    assert (table["n_replicas"] == 4).all() and (table["n_valid"] == 3).all()
    assert table["nu"].to_numpy() == pytest.approx([np.mean(nus)] * 3)
    assert table["nu_err"].to_numpy() == pytest.approx([np.std(nus, ddof=1) / math.sqrt(3)] * 3)
    assert table["width"].iloc[1] == pytest.approx(np.mean([0.0] + [(1 + r) * 3.0 ** (-5 / nu)
                                                                    for r, nu in enumerate(nus)]))
