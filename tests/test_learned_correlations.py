"""Change correlations of learned denoisers (hierphase.learned.evaluate): the learned pipeline with
exact BP in the network's place against exact BP's own posterior samples on the same x0 and noisy
states, a sampler that ignores the dependence between leaves against the same reference,
determinism, columns, runs without a valid parse, and the chi gap table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from oracles import ExactDenoiser

from hierphase import noise, rhm
from hierphase.learned import diffusion, evaluate, networks
from hierphase.tables import (LEARNED_CORRELATIONS_TABLE_COLUMNS,
                              LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS)

torch.set_num_threads(1)

SCHEDULE = noise.GaussianSchedule()
LEVELS = [0.25, 0.5, 0.75]
SIZES = dict(n_x0=48, n_traj=64, seed=7, T=1000, experiment="x", rule_seed=0, n_boot=200)


@pytest.fixture(scope="module")
def rules():
    return rhm.sample_rules(8, 3, 2, 3, seed=0)


@pytest.fixture(scope="module")
def exact_bp(rules):
    proc = diffusion.make_process("masking", rules.v, SCHEDULE)
    return evaluate.bp_correlation_tables(rules, proc, LEVELS, **SIZES)


def masking_tables(rules, net, steps, model):
    proc = diffusion.make_process("masking", rules.v, SCHEDULE, steps)
    return evaluate.learned_correlation_tables(rules, proc, net, LEVELS, model=model, P=0,
                                               train_seed=0, **SIZES)


def gaps(learned, exact, level):
    """chi_distance's rows of every noise value (not just the largest) at one level."""
    both = pd.concat([exact, learned], ignore_index=True)
    rows = []
    for noise_value in LEVELS:
        part = both[np.isclose(both["noise"], noise_value)]
        rows.append(evaluate.chi_distance(part, level=level).iloc[0])
    return pd.DataFrame(rows)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_exact_denoiser_gives_exact_bp_correlations(rules, exact_bp):
    """Unmasking one leaf at a time from exact BP's leaf posteriors is an exact posterior sample:
    its chi equals BP's on the same x0 and noisy states at every level and noise, within the
    bootstrap intervals; every output parses, so every run enters every level."""
    proc = diffusion.make_process("masking", rules.v, SCHEDULE, 8)
    corr, chi = masking_tables(rules, ExactDenoiser(rules, proc), 8, "exact")
    assert (chi["valid_fraction"] == 1.0).all() and (chi["n_x0"] == 48).all()
    for level in range(rules.L + 1):
        g = gaps(chi, exact_bp[1], level)
        assert (g["gap"].abs() <= g["gap_err"]).all(), (level, g)
    leaves = chi[chi["level"] == rules.L].set_index("noise")
    exact_leaves = exact_bp[1][exact_bp[1]["level"] == rules.L].set_index("noise")
    assert (exact_leaves["chi"] > 1.3).all()  # the leaves do change together: a real test
    class_gap = (leaves["class_kept"] - exact_leaves["class_kept"]).abs()
    assert (class_gap < 0.06).all(), class_gap


def test_independent_unmasking_is_caught(rules, exact_bp):
    """The same exact leaf posteriors, every masked leaf drawn at once (one unmasking step):
    the leaves change independently given the visible ones, and the comparison sees it."""
    proc = diffusion.make_process("masking", rules.v, SCHEDULE, 1)
    _, chi = masking_tables(rules, ExactDenoiser(rules, proc), 1, "independent")
    g = gaps(chi, exact_bp[1], rules.L)
    assert (g["gap"] < -g["gap_err"]).any(), g
    assert (g["gap"] < 0).all(), g
    assert (chi["valid_fraction"] < 0.9).all()  # and it writes ungrammatical data


def test_tables_are_deterministic_with_their_columns(rules):
    proc = diffusion.make_process("masking", rules.v, SCHEDULE, 8)
    torch.manual_seed(0)
    net = networks.TreeUNet(networks.NetworkConfig(proc.in_channels, rules.v, rules.s, rules.L,
                                                   width=8))
    for p in net.parameters():  # a random network: most outputs do not parse
        torch.nn.init.normal_(p, std=0.5)
    sizes = dict(SIZES, n_x0=6, n_traj=8, n_boot=20)
    first = evaluate.learned_correlation_tables(rules, proc, net, [0.0, 0.5, 1.0], model="rand",
                                                P=5, train_seed=1, **sizes)
    again = evaluate.learned_correlation_tables(rules, proc, net, [0.0, 0.5, 1.0], model="rand",
                                                P=5, train_seed=1, **sizes)
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a, b)
    corr, chi = first
    assert list(corr.columns) == LEARNED_CORRELATIONS_TABLE_COLUMNS
    assert list(chi.columns) == LEARNED_SUSCEPTIBILITY_TABLE_COLUMNS
    assert (chi["model"] == "rand").all() and (chi["P"] == 5).all() and (chi["seed"] == 1).all()
    assert str(chi["L"].dtype) == "Int64" and (chi["L"] == 3).all()
    # 3 noise values x 4 levels; C by tree distance: 1 + 2 + 3 + 4 bins per noise value
    assert len(chi) == 12 and len(corr) == 3 * 10
    clean = chi[chi["noise"] == 0.0]
    assert (clean["valid_fraction"] == 1.0).all() and (clean["class_kept"] == 1.0).all()
    assert clean["chi"].isna().all()  # nothing ever changes: chi is undefined, not 0
    noisy = chi[chi["noise"] == 1.0]
    valid = noisy["valid_fraction"].iloc[0]
    assert valid < 0.5, valid  # a random network mostly writes ungrammatical data
    leaves = noisy[noisy["level"] == 3]
    assert (leaves["n_x0"] == 6).all()  # every run enters the leaves
    assert (noisy.loc[noisy["level"] < 3, "n_x0"] <= 6).all()
    bp = evaluate.bp_correlation_tables(rules, proc, [0.0, 0.5, 1.0], **sizes)
    assert (bp[1]["valid_fraction"] == 1.0).all() and (bp[1]["model"] == "bp").all()
    assert bp[1]["P"].isna().all()


def test_gaussian_runs_and_bp_share_the_noisy_states(rules):
    """The Gaussian process through the same tables (the exact denoiser up to time
    discretisation): the class kept matches exact BP's on the same noisy states."""
    proc = diffusion.make_process("gaussian", rules.v, SCHEDULE, 50)
    sizes = dict(SIZES, n_x0=8, n_traj=32, n_boot=20)
    _, chi = evaluate.learned_correlation_tables(rules, proc, ExactDenoiser(rules, proc), [0.15],
                                                 model="exact", P=0, train_seed=0, **sizes)
    _, exact = evaluate.bp_correlation_tables(rules, proc, [0.15], **sizes)
    assert chi["noise"].iloc[0] == exact["noise"].iloc[0] == 0.15
    assert abs(chi["class_kept"].iloc[0] - exact["class_kept"].iloc[0]) < 0.1
    assert chi["valid_fraction"].iloc[0] > 0.95


def test_chi_distance():
    base = dict(family="rhm", experiment="x", process="masking", L=3, rule_seed=0, level=3)
    rows = [dict(base, model="bp", P=math.nan, seed=math.nan, noise=z, chi=c, chi_lo=c - 0.1,
                 chi_hi=c + 0.1) for z, c in [(0.0, math.nan), (0.5, 2.0), (1.0, 1.5)]]
    rows += [dict(base, model="m", P=64, seed=0, noise=z, chi=c, chi_lo=c - 0.2, chi_hi=c + 0.2)
             for z, c in [(0.0, math.nan), (0.5, 1.7), (1.0, 1.6)]]
    rows += [dict(base, model="m", P=64, seed=0, noise=0.5, chi=9.0, chi_lo=8.0, chi_hi=10.0,
                  level=2)]  # another level: left out
    d = evaluate.chi_distance(pd.DataFrame(rows))
    assert len(d) == 1
    row = d.iloc[0]
    assert row["noise_at_max"] == 0.5 and row["gap"] == pytest.approx(-0.3)
    assert row["gap_err"] == pytest.approx(math.sqrt(0.2**2 + 0.1**2))
    assert row["mean_abs_gap"] == pytest.approx(0.2) and row["n_noise"] == 2
