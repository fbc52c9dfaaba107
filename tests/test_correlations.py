"""hierphase.correlations: binned estimators against a naive dense computation and closed forms."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.linalg import hadamard

from hierphase.correlations import (CORRELATION_COLUMNS, SUSCEPTIBILITY_COLUMNS, change_spins,
                                    continuous_changes, correlation_length, lattice_bins,
                                    lattice_correlations, lattice_pair_sums, susceptibility,
                                    tree_bins, tree_change_spins, tree_correlations,
                                    tree_pair_sums)


# ----------------------------------------------------------------------------- naive reference
def dense_mean_covariance(spins):
    """The (n_x0, d, d) array of per-x0 connected correlations, averaged over x0."""
    x = np.asarray(spins, dtype=np.float64).reshape(spins.shape[0], spins.shape[1], -1)
    mean_ij = np.einsum("xti,xtj->xij", x, x) / x.shape[1]
    mean_i = x.mean(axis=1)
    dense = mean_ij - mean_i[:, :, None] * mean_i[:, None, :]
    return dense.mean(axis=0)


def tree_distance_matrix(s, level):
    nodes = np.arange(s**level)
    dist = np.full((nodes.size, nodes.size), -1)
    for k in range(level, -1, -1):  # the smallest k at which both sit in one block wins
        same = (nodes[:, None] // s**k) == (nodes[None, :] // s**k)
        dist[same] = k
    return dist


def lattice_distance2_matrix(shape, periodic):
    coords = np.indices(shape).reshape(len(shape), -1)
    d2 = np.zeros((coords.shape[1], coords.shape[1]), dtype=np.int64)
    for axis, n in enumerate(shape):
        delta = np.abs(coords[axis][:, None] - coords[axis][None, :])
        if periodic:
            delta = np.minimum(delta, n - delta)
        d2 += delta**2
    return d2


def naive_binned(C, keys):
    """Mean of C over pairs per key, the pair counts, and the keys (sorted)."""
    uniq = np.unique(keys)
    return (np.array([C[keys == k].mean() for k in uniq]),
            np.array([(keys == k).sum() for k in uniq]), uniq)


def random_spins(rng, n_x0, n_traj, sites):
    p = rng.uniform(0.05, 0.95, size=(n_x0, 1) + sites)  # per-x0, per-site change rates
    common = rng.uniform(size=(n_x0, n_traj, 1))  # a shared factor so that sites co-change
    u = 0.5 * rng.uniform(size=(n_x0, n_traj) + sites) + 0.5 * common.reshape(
        (n_x0, n_traj) + (1,) * len(sites))
    return np.where(u < p, 1, -1).astype(np.int8)


# ----------------------------------------------------------------------------- dense equality
@pytest.mark.parametrize("s,L", [(2, 4), (3, 3)])
def test_tree_estimator_equals_dense(s, L):
    rng = np.random.default_rng(s)
    spins = [random_spins(rng, 5, 7, (s**level,)) for level in range(L + 1)]
    out = tree_correlations(spins, s, n_boot=50, seed=0)
    assert list(out.correlations.columns) == CORRELATION_COLUMNS
    assert list(out.susceptibility.columns) == SUSCEPTIBILITY_COLUMNS
    for level in range(L + 1):
        C = dense_mean_covariance(spins[level])
        dist = tree_distance_matrix(s, level)
        expect, counts, keys = naive_binned(C, dist)
        rows = out.correlations[out.correlations["level"] == level]
        assert rows["distance"].tolist() == keys.tolist()
        np.testing.assert_allclose(rows["r"], s**keys - 1.0)
        np.testing.assert_allclose(rows["C"], expect, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(tree_bins(s, level).n_pairs, counts)
        chi = out.susceptibility[out.susceptibility["level"] == level].iloc[0]
        assert chi["chi"] == pytest.approx(C.sum() / np.trace(C), rel=1e-12)
        r = s**dist - 1.0
        assert chi["xi"] ** 2 == pytest.approx((r**2 * C).sum() / C.sum(), rel=1e-12, abs=1e-14)
        assert (rows[["n_x0", "n_traj"]].to_numpy() == [5, 7]).all()
    leaves_only = tree_correlations({L: spins[L]}, s, n_boot=50, seed=0)
    leaf_rows = out.correlations[out.correlations["level"] == L].reset_index(drop=True)
    assert leaves_only.correlations.equals(leaf_rows)
    upper = tree_correlations(spins, s, n_boot=50, seed=0, variant="upper").susceptibility
    C = dense_mean_covariance(spins[L])
    assert upper["chi"].iloc[-1] == pytest.approx(np.triu(C).sum() / np.trace(C), rel=1e-12)


@pytest.mark.parametrize("shape", [(12,), (5, 6)])
@pytest.mark.parametrize("periodic", [False, True])
def test_lattice_estimator_equals_dense(shape, periodic):
    rng = np.random.default_rng(len(shape) + 2 * periodic)
    spins = random_spins(rng, 4, 6, shape)
    out = lattice_correlations(spins, periodic, n_boot=50, seed=3, level=7)
    C = dense_mean_covariance(spins)
    d2 = lattice_distance2_matrix(shape, periodic)
    expect, counts, keys = naive_binned(C, d2)
    table = out.correlations
    np.testing.assert_allclose(table["r"], np.sqrt(keys))
    expected_keys = np.sqrt(keys).round() if len(shape) == 1 else keys
    assert table["distance"].tolist() == expected_keys.astype(int).tolist()
    np.testing.assert_allclose(table["C"], expect, rtol=1e-10, atol=1e-13)
    np.testing.assert_array_equal(lattice_bins(shape, periodic).n_pairs, counts)
    chi = out.susceptibility.iloc[0]
    assert chi["chi"] == pytest.approx(C.sum() / np.trace(C), rel=1e-10)
    assert chi["xi"] == pytest.approx(math.sqrt((d2 * C).sum() / C.sum()), rel=1e-10)
    assert (table["level"] == 7).all()
    # streamed one x0 at a time, from torch tensors: the same tables
    streamed = lattice_correlations((torch.from_numpy(x) for x in spins), periodic, n_boot=50,
                                    seed=3, level=7)
    assert streamed.correlations.equals(table)
    assert streamed.susceptibility.equals(out.susceptibility)


def test_continuous_changes_through_the_same_estimator():
    rng = np.random.default_rng(5)
    z0 = rng.normal(size=(3, 8, 2))
    z_hat = z0[:, None] + rng.normal(size=(3, 5, 8, 2))
    delta = continuous_changes(z0, z_hat, feature_axis=-1)
    np.testing.assert_allclose(delta, np.linalg.norm(z_hat - z0[:, None], axis=-1) / math.sqrt(2))
    np.testing.assert_allclose(continuous_changes(z0, z_hat), np.abs(z_hat - z0[:, None]))
    out = lattice_correlations(delta, periodic=True, n_boot=20, seed=0)
    expect, _, _ = naive_binned(dense_mean_covariance(delta), lattice_distance2_matrix((8,), True))
    np.testing.assert_allclose(out.correlations["C"], expect, rtol=1e-10, atol=1e-13)


def test_patch_deltas_on_an_open_grid_equal_dense():
    """Image patches: delta_i = ||f_i(x0) - f_i(x̂0)|| / sqrt(D) on an open 3 x 4 grid, binned
    by Euclidean distance, against a loop over patches and the dense covariance."""
    rng = np.random.default_rng(9)
    n_x0, n_traj, h, w, D = 4, 6, 3, 4, 5
    z0 = rng.normal(size=(n_x0, h, w, D))
    shared = rng.normal(size=(n_x0, n_traj, 1, 1, D))  # a change common to the patches of a run
    z_hat = z0[:, None] + rng.uniform(0.2, 1.5, size=(n_x0, 1, h, w, 1)) * shared \
        + 0.5 * rng.normal(size=(n_x0, n_traj, h, w, D))
    delta = continuous_changes(z0, z_hat, feature_axis=-1)
    naive = np.empty((n_x0, n_traj, h, w))
    for x, t, i, j in np.ndindex(naive.shape):
        naive[x, t, i, j] = math.sqrt(sum((z0[x, i, j, e] - z_hat[x, t, i, j, e]) ** 2
                                          for e in range(D)) / D)
    np.testing.assert_allclose(delta, naive, rtol=1e-12)
    out = lattice_correlations(delta, periodic=False, n_boot=30, seed=1)
    C = dense_mean_covariance(delta)
    d2 = lattice_distance2_matrix((h, w), False)
    expect, counts, keys = naive_binned(C, d2)
    assert out.correlations["distance"].tolist() == keys.tolist()  # squared distances on a grid
    np.testing.assert_allclose(out.correlations["r"], np.sqrt(keys))
    np.testing.assert_allclose(out.correlations["C"], expect, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(lattice_bins((h, w), False).n_pairs, counts)
    row = out.susceptibility.iloc[0]
    assert row["chi"] == pytest.approx(C.sum() / np.trace(C), rel=1e-10)
    assert row["xi"] == pytest.approx(math.sqrt((d2 * C).sum() / C.sum()), rel=1e-10)
    assert row["chi"] > 2  # the shared change makes patches co-fluctuate


def test_identical_trajectories_give_exactly_zero_correlation():
    """Zero noise: every run of an x0 changes each patch by the same (non-zero, non-dyadic)
    amount, so nothing fluctuates: C is exactly 0 (not rounding), chi and xi undefined."""
    rng = np.random.default_rng(2)
    per_x0 = rng.uniform(0.01, 3.0, size=(3, 1, 5, 6)) / 3.0
    delta = np.repeat(per_x0, 7, axis=1)  # 7 identical trajectories
    out = lattice_correlations(delta, periodic=False, n_boot=20, seed=0)
    assert (out.correlations["C"] == 0.0).all()
    assert (out.correlations[["C_lo", "C_hi"]] == 0.0).all().all()
    assert np.isnan(out.susceptibility["chi"].iloc[0]) and np.isnan(out.susceptibility["xi"].iloc[0])
    assert (lattice_pair_sums(delta[0], periodic=False) == 0.0).all()


def test_independent_patch_changes_give_chi_one_within_error():
    """Continuous changes drawn independently per patch and run (exponential, different scales
    per patch): chi = 1 inside its bootstrap interval, C(r > 0) = 0 inside its intervals."""
    rng = np.random.default_rng(4)
    scale = rng.uniform(0.5, 2.0, size=(40, 1, 6, 6))
    delta = rng.exponential(size=(40, 16, 6, 6)) * scale
    out = lattice_correlations(delta, periodic=False, n_boot=400, seed=0)
    row = out.susceptibility.iloc[0]
    assert row["chi_lo"] <= 1.0 <= row["chi_hi"]
    assert abs(row["chi"] - 1.0) < 0.1
    far = out.correlations.iloc[1:]
    assert ((far["C_lo"] <= 0) & (far["C_hi"] >= 0)).mean() > 0.8


# ----------------------------------------------------------------------------- closed forms
def block_spins(n_traj, n_sites, block):
    """Balanced +-1 spins, identical within consecutive blocks of ``block`` sites, the blocks'
    patterns orthogonal (Hadamard columns): C_ij = 1 within a block, 0 across, exactly."""
    columns = hadamard(n_traj)[:, 1:1 + n_sites // block]
    return np.repeat(columns, block, axis=1)[None].astype(np.int8)


def test_independent_spins_give_chi_one():
    spins = block_spins(16, 8, 1)
    tree = tree_correlations([spins[:, :, :1], spins[:, :, :2], spins[:, :, :4], spins], 2,
                             n_boot=10, seed=0)
    assert tree.susceptibility["chi"].tolist() == pytest.approx([1.0] * 4, abs=1e-12)
    leaves = tree.correlations[tree.correlations["level"] == 3]
    assert leaves["C"].tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0], abs=1e-12)
    assert tree.susceptibility["xi"].tolist() == pytest.approx([0.0] * 4, abs=1e-12)
    chain = lattice_correlations(spins, periodic=False, n_boot=10, seed=0)
    assert chain.susceptibility["chi"].iloc[0] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("s,block_level", [(2, 2), (3, 1)])
def test_tree_blocks_closed_form(s, block_level):
    L = 3
    block = s**block_level
    spins = block_spins(32, s**L, block)
    levels = [np.ones((1, 32, s**level), dtype=np.int8) for level in range(L)] + [spins]
    out = tree_correlations(levels, s, n_boot=10, seed=0)
    leaves = out.correlations[out.correlations["level"] == L]
    expect_C = [1.0 if k <= block_level else 0.0 for k in range(L + 1)]
    assert leaves["C"].tolist() == pytest.approx(expect_C, abs=1e-12)
    chi = out.susceptibility.set_index("level")
    assert chi.loc[L, "chi"] == pytest.approx(block)
    # pairs at distance k within a block: s**k - s**(k-1) partners at r = s**k - 1 per site
    xi2 = sum((s**k - s**(k - 1)) * (s**k - 1) ** 2 for k in range(1, block_level + 1)) / block
    assert chi.loc[L, "xi"] == pytest.approx(math.sqrt(xi2))
    # latent levels that never change: C = 0, chi and xi undefined
    assert np.isnan(chi.loc[0, "chi"]) and np.isnan(chi.loc[0, "xi"])
    assert (out.correlations[out.correlations["level"] < L]["C"] == 0).all()


def test_chain_blocks_closed_form():
    n, b = 24, 4
    out = lattice_correlations(block_spins(8, n, b), periodic=False, n_boot=10, seed=0)
    table = out.correlations
    # pairs at distance r inside a block: 2 (n / b) (b - r) of the 2 (n - r) ordered pairs
    expect = [1.0] + [(n / b) * (b - r) / (n - r) if r < b else 0.0 for r in range(1, n)]
    assert table["C"].tolist() == pytest.approx(expect, abs=1e-12)
    row = out.susceptibility.iloc[0]
    assert row["chi"] == pytest.approx(b)
    assert row["xi"] == pytest.approx(math.sqrt((b**2 - 1) / 6))
    upper = lattice_correlations(block_spins(8, n, b), False, n_boot=10, seed=0, variant="upper")
    assert upper.susceptibility["chi"].iloc[0] == pytest.approx((b + 1) / 2)


def test_correlation_length_nan_with_reason():
    assert correlation_length([1.0, -2.0], [0.0, 1.0]).reason.startswith("sum_ij C_ij")
    assert np.isnan(correlation_length([1.0, -2.0], [0.0, 1.0]).xi)
    length = correlation_length([1.0, 0.5, -0.2], [0.0, 1.0, 3.0])
    assert np.isnan(length.xi) and "anticorrelations" in length.reason
    assert correlation_length([2.0, 2.0], [0.0, 1.0]) == (pytest.approx(math.sqrt(0.5)), "")
    assert correlation_length([1.0, 1e-3, -1e-3 * (1 + 1e-15)], [0.0, 1.0, 1.0]) == (0.0, "")
    assert np.isnan(susceptibility([0.0, 0.0]))


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_deterministic_and_covers_estimate():
    rng = np.random.default_rng(11)
    spins = [random_spins(rng, 30, 8, (2**level,)) for level in range(4)]
    a = tree_correlations(spins, 2, n_boot=200, seed=4)
    b = tree_correlations(spins, 2, n_boot=200, seed=4)
    c = tree_correlations(spins, 2, n_boot=200, seed=5)
    assert a.correlations.equals(b.correlations) and a.susceptibility.equals(b.susceptibility)
    assert not a.correlations["C_lo"].equals(c.correlations["C_lo"])
    assert a.correlations["C"].equals(c.correlations["C"])  # point estimates ignore the seed
    C = a.correlations
    assert ((C["C_lo"] <= C["C"]) & (C["C"] <= C["C_hi"]) & (C["C_lo"] < C["C_hi"])).all()
    chi = a.susceptibility
    assert ((chi["chi_lo"] <= chi["chi"]) & (chi["chi"] <= chi["chi_hi"])).all()
    assert ((chi["xi_lo"] <= chi["xi"]) & (chi["xi"] <= chi["xi_hi"])).all()


def test_tree_runs_select_the_runs_of_each_x0():
    """``runs``: each x0's C from its selected runs only (the same as passing those runs alone),
    an x0 with fewer than 2 left out and counted out of n_x0, NaN rows when none is left."""
    rng = np.random.default_rng(5)
    spins = {level: random_spins(rng, 6, 10, (2**level,)) for level in range(3)}
    runs = np.zeros((6, 10), dtype=bool)
    runs[:, :7] = True
    runs[2, 1:] = False  # one run left: x0 2 cannot enter
    got = tree_correlations(spins, 2, n_boot=50, seed=3, runs=runs)
    keep = [0, 1, 3, 4, 5]
    want = tree_correlations({lv: x[keep, :7] for lv, x in spins.items()}, 2, n_boot=50, seed=3)
    for g, w in zip(got, want):
        assert (g["n_x0"] == 5).all() and (g["n_traj"] == 10).all()  # runs made per x0
        pd.testing.assert_frame_equal(g.drop(columns="n_traj"), w.drop(columns="n_traj"))
    everything = tree_correlations(spins, 2, n_boot=50, seed=3)
    same = tree_correlations(spins, 2, n_boot=50, seed=3, runs=np.ones((6, 10), dtype=bool))
    for a, b in zip(everything, same):
        pd.testing.assert_frame_equal(a, b)
    none = tree_correlations(spins, 2, n_boot=50, seed=3, runs=np.eye(6, 10, dtype=bool))
    assert (none.susceptibility["n_x0"] == 0).all() and none.susceptibility["chi"].isna().all()
    assert none.correlations["C"].isna().all() and len(none.correlations) == len(want.correlations)
    with pytest.raises(ValueError, match="runs must be a boolean array"):
        tree_correlations(spins, 2, n_boot=5, seed=0, runs=np.ones((6, 9), dtype=bool))


# ----------------------------------------------------------------------------- spins and inputs
def test_change_spins_on_trees():
    trees = [torch.tensor([[0], [1]]), torch.tensor([[2, 3], [4, 5]])]
    hats = [torch.tensor([[[0], [1]], [[1], [1]]]),
            torch.tensor([[[2, 3], [2, 0]], [[4, 5], [0, 0]]])]
    spins = tree_change_spins(trees, hats)
    assert spins[0].dtype == np.int8
    assert spins[0][:, :, 0].tolist() == [[-1, 1], [-1, -1]]
    assert spins[1].tolist() == [[[-1, -1], [-1, 1]], [[-1, -1], [1, 1]]]
    with pytest.raises(ValueError, match=r"trees_hat\[1\]"):
        tree_change_spins(trees, [hats[0], hats[1][:, :, :1]])
    with pytest.raises(ValueError, match="levels"):
        tree_change_spins(trees, hats[:1])


def test_bad_inputs_raise_naming_the_argument():
    rng = np.random.default_rng(0)
    good = random_spins(rng, 3, 4, (4,))
    with pytest.raises(ValueError, match="x0_hat"):
        change_spins(np.zeros((3, 4)), np.zeros((3, 2, 5)))
    with pytest.raises(ValueError, match="n_traj"):
        lattice_correlations(good[:, :1], periodic=True, seed=0)
    with pytest.raises(ValueError, match="n_traj"):
        tree_correlations([good[:, :1, :1]], 2, seed=0)
    with pytest.raises(ValueError, match="n_traj"):
        lattice_pair_sums(good[0, :1], periodic=False)
    with pytest.raises(ValueError, match=r"spins\[2\]"):
        tree_correlations([good[:, :, :1], good[:, :, :2], good[:, :, :3]], 2, seed=0)
    with pytest.raises(ValueError, match=r"spins\[1\]"):
        lattice_correlations(iter([good[0], good[1, :, :3]]), periodic=True, seed=0)
    with pytest.raises(ValueError, match="variant"):
        tree_correlations([good[:, :, :1]], 2, seed=0, variant="lower")
    with pytest.raises(ValueError, match="seed"):
        tree_correlations([good[:, :, :1]], 2, seed=-1)
    with pytest.raises(ValueError, match="confidence"):
        lattice_correlations(good, True, seed=0, confidence=1.5)
    with pytest.raises(ValueError, match="s must"):
        tree_bins(1, 2)
    with pytest.raises(ValueError, match="power of s=2"):
        tree_pair_sums(good[0, :, :3], 2)
    with pytest.raises(ValueError, match="pair_sums"):
        correlation_length([1.0, 2.0], [0.0])


# ----------------------------------------------------------------------------- exactness with BP
def _exact_binned(x0_tree, data, weights, s):
    """Per level: exact C per tree distance for one x0, whose forward-backward output is the datum
    ``data[.][k]`` with probability ``weights[k]``; and the variance of the plug-in estimate from
    ONE trajectory (delta method: C_ij-hat ~ <g>, g = s_i s_j - m_j s_i - m_i s_j), computed
    exactly under the same distribution. Dense, by enumeration: independent of the estimator."""
    out = []
    for level, latents in enumerate(data):
        sig = np.where(latents != x0_tree[level][None], 1.0, -1.0)  # (N, nodes)
        m = weights @ sig
        prod = sig[:, :, None] * sig[:, None, :]  # (N, nodes, nodes)
        C = np.einsum("k,kij->ij", weights, prod) - np.outer(m, m)
        g = prod - m[None, None, :] * sig[:, :, None] - m[None, :, None] * sig[:, None, :]
        dist = tree_distance_matrix(s, level)
        keys = np.unique(dist)
        C_bin = np.array([C[dist == k].mean() for k in keys])
        G = np.stack([g[:, dist == k].mean(axis=1) for k in keys], axis=1)  # (N, bins)
        var = weights @ G**2 - (weights @ G) ** 2
        joint = np.einsum("k,kij->ij", weights, (prod > 0) & (sig[:, :, None] > 0))
        out.append((C_bin, var, joint))
    return out


@pytest.mark.parametrize("process", ["epsilon", "masking"])
def test_bp_pair_changes_match_brute_force(process):
    """On a tiny RHM (v=4 m=2 s=2 L=3, 512 data), the change statistics of exact BP forward-backward
    samples match those of the posterior enumerated datum by datum. Stated tolerance at fixed seeds:
    every pair's joint change frequency within 5 binomial standard errors of the exact probability,
    and every binned C within 5 delta-method standard errors (+ the 1/n_traj bias of population
    moments) of the exact value."""
    import itertools
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from brute_force import all_data_recursive

    from hierphase import bp, noise, rhm

    rules = rhm.sample_rules(4, 2, 2, 3, seed=3)
    trees = rhm.sample_trees(rules, 3, seed=1)
    data = all_data_recursive(rules)
    n_traj, d, v = 4000, rules.d, rules.v
    spins_by_x0, exact = [], []
    for x in range(len(trees[0])):
        x0_tree = [t[x].numpy() for t in trees]
        leaves = trees[-1][x:x + 1]
        if process == "epsilon":  # deterministic evidence: one posterior, n_traj samples
            ev = noise.epsilon_evidence(leaves, 0.5, v).expand(n_traj, -1, -1)
            loglik = sum(ev[0, j].numpy()[data[-1][:, j]] for j in range(d))
            w = np.exp(loglik - loglik.max())
            w /= w.sum()
        else:  # a fresh mask of d/2 leaves per trajectory: the posterior averaged over masks
            mask = noise.masking_forward(leaves.expand(n_traj, -1), 0.5, seed=x)
            ev = noise.masking_evidence(leaves.expand(n_traj, -1), mask, v)
            w = np.zeros(len(data[-1]))
            subsets = list(itertools.combinations(range(d), d // 2))
            for hidden in subsets:
                seen = [j for j in range(d) if j not in hidden]
                ok = (data[-1][:, seen] == x0_tree[-1][seen]).all(axis=1)
                w += ok / ok.sum() / len(subsets)
        samples = bp.sample_posterior(rules, ev, seed=10 + x, backend="torch")
        spins_by_x0.append(tree_change_spins([t[x:x + 1] for t in trees],
                                             [sam[None] for sam in samples]))
        exact.append(_exact_binned(x0_tree, data, w, rules.s))
    n_x0 = len(exact)
    spins = [np.concatenate([sp[level] for sp in spins_by_x0]) for level in range(rules.L + 1)]
    table = tree_correlations(spins, rules.s, n_boot=10, seed=0).correlations
    for level in range(rules.L + 1):
        for x in range(n_x0):  # pair change probabilities, pair by pair
            up = (spins[level][x] > 0).astype(float)
            freq = up.T @ up / n_traj
            p = exact[x][level][2]
            assert (np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n_traj) + 1e-12).all(), level
        C_exact = np.mean([e[level][0] for e in exact], axis=0)
        se = np.sqrt(np.sum([e[level][1] for e in exact], axis=0) / (n_x0**2 * n_traj))
        got = table[table["level"] == level]["C"].to_numpy()
        assert (np.abs(got - C_exact) <= 5 * se + 1.0 / n_traj + 1e-12).all(), (level, got, C_exact)
    # not vacuous: the leaves do co-change at this noise
    assert np.abs(table[(table["level"] == rules.L) & (table["distance"] > 0)]["C"]).max() > 0.01
