"""The phase diagram: mean field against its closed forms, BP's class curves against brute force and
against mean field where they must agree, the table's logic on curves whose answer is known, and
determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from brute_force import posterior_by_enumeration

from hierphase import io, noise, rhm, theory
from hierphase.phase_diagram import (boundary_m, deeper_keeps_more, grid_points, mean_field_point,
                                     phase_diagram_table)
from hierphase.stages.rhm import aggregate_phase_sweeps, phase_point_sweep
from hierphase.stats import wilson_interval
from hierphase.tables import PHASE_DIAGRAM_COLUMNS, PHASE_KEPT_COLUMNS


# ----------------------------------------------------------------------------- mean field
@pytest.mark.parametrize("v", [4, 5, 8, 16, 32, 64])
def test_s2_mean_field_is_the_closed_form(v):
    """s = 2: a transition iff m < (v+1)/2, at p* = (m-1)/(v-m) (1/v for m = 1: eps* = 1)."""
    for m in range(1, v + 1):
        mf = mean_field_point(v, m, 2)
        assert mf.has_transition == (m < (v + 1) / 2), (v, m)
        if not mf.has_transition:
            assert math.isnan(mf.eps_star) and math.isnan(mf.nu)
            continue
        p_star = max((m - 1) / (v - m), 1 / v)
        assert mf.p_star == pytest.approx(p_star, abs=1e-10)
        assert mf.eps_star == pytest.approx((1 - p_star) / (1 - 1 / v), abs=1e-10)
        if m == 1:  # eps* = 1: the transition sits at the edge, no exponent (NaN)
            assert mf.eps_star == 1.0 and math.isnan(mf.nu)
            continue
        slope = float(theory.F_prime(p_star, v, m, 2))
        assert mf.nu == pytest.approx(math.log(2) / math.log(slope), rel=1e-9)


def test_mean_field_at_the_paper_s_point():
    mf = mean_field_point(32, 8, 2)
    assert mf.eps_star == pytest.approx(0.7312, abs=1e-4)
    assert mf.nu == pytest.approx(1.893, abs=1e-3)
    assert mf.eps_star == pytest.approx(theory.critical_noise(32, 8, 2), abs=1e-12)


@pytest.mark.parametrize("v", [3, 4, 5, 6, 8])
def test_s3_transition_iff_one_is_stable(v):
    """s = 3: a transition iff 3 m (v-1)/(v^3-1) < 1, i.e. m below the line m_c(v)."""
    for m in range(1, v**2 + 1):
        mf = mean_field_point(v, m, 3)
        assert mf.has_transition == (3 * m * (v - 1) / (v**3 - 1) < 1), (v, m)
        assert mf.has_transition == (m < boundary_m(v, 3))
        if mf.has_transition:
            # p* is a fixed point of F, unstable, with eps* from it
            assert float(theory.F(mf.p_star, v, m, 3)) == pytest.approx(mf.p_star, abs=1e-10)
            assert float(theory.F_prime(mf.p_star, v, m, 3)) > 1
            assert mf.eps_star == pytest.approx((1 - mf.p_star) / (1 - 1 / v), abs=1e-12)


def test_boundary_line_closed_forms():
    v = np.array([3.0, 4.0, 16.0, 64.0])
    np.testing.assert_allclose(boundary_m(v, 2), (v + 1) / 2)
    np.testing.assert_allclose(boundary_m(v, 3), (v**2 + v + 1) / 3)


def test_mean_field_eps_star_is_where_deep_curves_cross():
    """In mean field every depth's class curve passes p* at eps*: the curves cross there."""
    for v, m, s in [(32, 8, 2), (8, 3, 2), (4, 4, 3)]:
        mf = mean_field_point(v, m, s)
        kept = [theory.class_reconstruction(mf.eps_star, v, m, s, L) for L in (4, 8, 12)]
        np.testing.assert_allclose(kept, mf.p_star, atol=1e-9)


def test_grid_points_expand_all_and_drop_repeats():
    pts = grid_points([{"s": 2, "v": [4, 3], "m": "all"}, {"s": 2, "v": [4], "m": [2, 1]},
                       {"s": 3, "v": [3], "m": [9]}])
    assert pts == [(2, 3, 1), (2, 3, 2), (2, 3, 3), (2, 4, 1), (2, 4, 2), (2, 4, 3), (2, 4, 4),
                   (3, 3, 9)]


# ----------------------------------------------------------------------------- BP sweeps
def test_class_kept_of_a_sweep_equals_brute_force():
    """The marginal class kept of phase_point_sweep is the enumerated posterior of the true class,
    averaged over the same data and the same (deterministic) epsilon evidence."""
    v, m, s, L, n, seed = 3, 2, 2, 2, 24, 11
    values = [0.3, 0.7]
    table = phase_point_sweep(v, m, s, [L], values, seed=seed, n_samples=n, batch_size=7)
    assert list(table.columns) == PHASE_KEPT_COLUMNS
    from hierphase.seeding import derive_seed

    rules = rhm.sample_rules(v, m, s, L, seed=derive_seed(seed, "rules", L))
    trees = rhm.sample_trees(rules, n, seed=derive_seed(seed, "data", L))
    for eps in values:
        evidence = noise.epsilon_evidence(trees[-1], eps, v)
        post = posterior_by_enumeration(rules, evidence)[0]  # (n, 1, n_classes)
        expected = post[np.arange(n), 0, trees[0][:, 0].numpy()].mean()
        got = table.loc[np.isclose(table["noise"], eps), "kept_marginal"].item()
        assert got == pytest.approx(expected, abs=1e-10)


def _mean_field_half(v, m, s, L):
    eps = np.linspace(0, 1, 20001)
    kept = theory.class_reconstruction(eps, v, m, s, L)
    return float(eps[np.argmax(kept < 0.5)])


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_bp_half_point_meets_mean_field_at_large_v():
    """Far from the line and at large v the annealed average is accurate: BP's half point at
    L = 6 within 0.03 of mean field's at the same depth (v = 32, m = 4, 1,000 data)."""
    eps = np.round(np.linspace(0.7, 1.0, 16), 6)
    table = phase_point_sweep(32, 4, 2, [6], eps, seed=3, n_samples=1000, batch_size=500)
    from hierphase.scaling import class_half_point

    bp = class_half_point(table["noise"], table["kept_marginal"])
    assert bp == pytest.approx(_mean_field_half(32, 4, 2, 6), abs=0.03)


def test_bp_sees_the_transition_where_it_is_clear():
    """v = 8, m = 2 (deep inside the mean-field transition): the deeper tree keeps the class
    better; m = 6 (far outside): it never does, its half point drifts to 0."""
    eps = np.round(np.linspace(0, 1, 11), 6)
    kept = aggregate_phase_sweeps(
        phase_point_sweep(8, m, 2, [3, 6], eps, seed=5, n_samples=300, batch_size=300)
        for m in (2, 6))
    table = phase_diagram_table(kept)
    inside, outside = table.iloc[0], table.iloc[1]
    assert inside["has_transition_bp"] and inside["has_transition_mf"]
    assert not outside["has_transition_bp"] and not outside["has_transition_mf"]
    halves = [float(h) for h in outside["eps_half_by_L"].split()]
    assert halves[1] < halves[0]
    assert math.isnan(outside["eps_star_bp_extrapolated"])


# ----------------------------------------------------------------------------- the table's logic
def _mean_field_kept(v, m, s, depths, n=10**6, eps=None):
    """Kept rows whose curves are mean field's, with Wilson intervals of n data: the table must
    find mean field's answers in them."""
    eps = np.round(np.linspace(0, 1, 401), 6) if eps is None else eps
    rows = []
    for L in depths:
        kept = theory.class_reconstruction(eps, v, m, s, L)
        lo, hi = wilson_interval(kept * n, np.full(len(eps), n))
        rows.append(pd.DataFrame({
            "s": s, "v": v, "m": m, "n_classes": v, "experiment": "phase_diagram", "model": "bp",
            "process": "epsilon", "L": L, "rule_seed": 0, "level": 0, "noise": eps, "t": None,
            "t_over_T": None, "kept_marginal": kept, "kept_sampled": kept, "ci_low": lo,
            "ci_high": hi, "n": n}))
    return pd.concat(rows, ignore_index=True)[PHASE_KEPT_COLUMNS]


def test_table_recovers_mean_field_from_mean_field_curves():
    """Fed mean field's own curves (L = 4..12), the extrapolation meets its eps* and the verdicts
    match; outside the line neither sees a transition."""
    kept = pd.concat([_mean_field_kept(32, 8, 2, [4, 6, 8, 10, 12]),
                      _mean_field_kept(32, 24, 2, [4, 6, 8, 10, 12])], ignore_index=True)
    table = phase_diagram_table(kept)
    assert list(table.columns) == PHASE_DIAGRAM_COLUMNS
    inside, outside = table.iloc[0], table.iloc[1]
    assert (inside["m"], outside["m"]) == (8, 24)
    assert inside["has_transition_bp"] and inside["has_transition_mf"]
    assert inside["eps_star_bp_extrapolated"] == pytest.approx(0.7312, abs=0.003)
    assert inside["eps_half_bp"] < inside["eps_star_mf"]  # p* < 1/2: from below
    assert inside["L"] == 12 and inside["L_values"] == "4 6 8 10 12"
    assert not outside["has_transition_bp"] and not outside["has_transition_mf"]


def test_deeper_keeps_more_needs_disjoint_intervals():
    a = pd.DataFrame({"noise": [0.1, 0.5], "kept_sampled": [0.8, 0.4], "ci_low": [0.75, 0.35],
                      "ci_high": [0.85, 0.45]})
    b = a.assign(kept_sampled=[0.84, 0.3], ci_low=[0.79, 0.25], ci_high=[0.89, 0.35])
    assert deeper_keeps_more(a, b) == (False, 0.0)
    c = a.assign(kept_sampled=[0.95, 0.3], ci_low=[0.9, 0.25], ci_high=[0.99, 0.35])
    ok, gap = deeper_keeps_more(a, c)
    assert ok and gap == pytest.approx(0.15)
    # at chance (below the floor) a gain is sampling noise: not counted
    d = a.assign(kept_sampled=[0.8, 0.6], ci_low=[0.75, 0.55], ci_high=[0.85, 0.65])
    assert deeper_keeps_more(a, d) == (True, pytest.approx(0.2))
    assert deeper_keeps_more(a, d, floor=0.5) == (False, 0.0)


def test_same_seed_same_bytes(tmp_path):
    """One config, one table: the sweep and the phase-diagram table are byte-identical twice;
    another seed draws other rules and data."""
    eps = [0.0, 0.4, 0.8, 1.0]
    for k in range(2):
        kept = aggregate_phase_sweeps([phase_point_sweep(4, 2, 2, [2, 3], eps, seed=9, n_samples=16,
                                                         batch_size=5)])
        io.write_table(kept, tmp_path / f"kept{k}.parquet")
        io.write_table(phase_diagram_table(kept), tmp_path / f"table{k}.parquet")
    for name in ("kept", "table"):
        assert (tmp_path / f"{name}0.parquet").read_bytes() == \
            (tmp_path / f"{name}1.parquet").read_bytes()
    other = phase_point_sweep(4, 2, 2, [2, 3], eps, seed=10, n_samples=16, batch_size=5)
    assert not np.array_equal(other["kept_marginal"], kept["kept_marginal"])
