"""Tests of the grammar branch's per-noise-level functions (hierphase.grammar.sweeps): heights,
kept tables (against RHM BP on the RHM grammar), change spins and correlations, co-changes
against the true constituents (against a direct pair loop)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hierphase import bp, noise, rhm
from hierphase.grammar import (Trees, change_correlations, change_spins, constituent_cochange,
                               fit_markov_chain, kept_table, random_grammar, rhm_grammar,
                               sample_sentences, summarise_kept, tree_heights)
from hierphase.grammar.sweeps import enclosing_constituents, noisy_evidence


def _heights_recursive(spans):
    by_span = {(i, w): k for k, (i, w, _) in enumerate(spans)}
    out = [0] * len(spans)

    def height(i, w):
        if w == 1:
            return 0
        k = next(k for k in range(1, w) if (i, k) in by_span and (i + k, w - k) in by_span)
        h = 1 + max(height(i, k), height(i + k, w - k))
        out[by_span[(i, w)]] = h
        return h

    height(0, spans[0][1])
    return out


def test_tree_heights_and_enclosing_constituents():
    g = random_grammar(8, 3, 9, 3, 3, overlap=0.3, seed=0, law="zipf", lengths=(13,))
    trees = sample_sentences(g, 13, 20, seed=1)
    heights = tree_heights(trees.spans)
    for j, spans in enumerate(trees.spans.tolist()):
        assert heights[j].tolist() == _heights_recursive(spans)
        width, height = enclosing_constituents(trees.spans[j], 13)
        for a in range(13):
            for b in range(13):
                lo, hi = min(a, b), max(a, b)
                inside = [(w, heights[j, k].item()) for k, (i, w, _) in enumerate(spans)
                          if i <= lo and hi < i + w]
                assert (width[a, b], height[a, b]) == min(inside)


def test_kept_table_equals_bp_on_the_rhm_grammar():
    """On the RHM grammar, the posterior probability of the true constituents of height h is
    BP's true-latent probability at level L - h, and the root's is the class's."""
    rules = rhm.sample_rules(6, 2, 2, 3, n_classes=3, seed=1)
    g = rhm_grammar(rules)
    trees = sample_sentences(g, rules.d, 30, seed=2)
    table = kept_table(g, trees, "epsilon", 0.4, seed=5)
    ev = noisy_evidence(trees.tokens, rules.v, "epsilon", 0.4, seed=5)
    latents = rhm.parse(rules, trees.tokens).latents
    truth = bp.kept_observables(rules, ev, latents, seed=0, backend="torch").true_probability
    for h in range(rules.L + 1):
        rows = table[(table.observable == "constituent") & (table.height == h)]
        assert np.allclose(rows["probability"].to_numpy(), truth[rules.L - h].numpy(), atol=1e-10)
    root = table[table.observable == "root"]["probability"].to_numpy()
    assert np.allclose(root, truth[0].numpy(), atol=1e-10)
    tokens = table[table.observable == "tokens"]["probability"].to_numpy()
    assert np.allclose(tokens, truth[rules.L].numpy(), atol=1e-10)
    assert kept_table(g, trees, "epsilon", 0.4, seed=5).equals(table)  # deterministic


def test_kept_table_limits_and_summary():
    g = random_grammar(10, 4, 12, 4, 3, overlap=0.5, seed=2, lengths=(24,))
    trees = sample_sentences(g, 24, 40, seed=0)
    clean = kept_table(g, trees, "masking", 0.0, seed=1)
    tok = clean[clean.observable == "tokens"]
    assert (tok["kept"] == 1).all() and np.allclose(tok["probability"], 1.0)
    noisy = summarise_kept(kept_table(g, trees, "masking", 1.0, seed=1))
    assert set(noisy.observable) == {"root", "tokens", "constituent"}
    row = noisy[noisy.observable == "tokens"].iloc[0]
    assert row["n_items"] == 40 * 24 and 0 < row["kept"] < 1 and row["kept_se"] > 0
    # every constituent of every tree is counted once
    total = noisy[noisy.observable == "constituent"]["n_items"].sum()
    assert total == 40 * (2 * 24 - 1)
    hmm = fit_markov_chain(trees.tokens, g.n_terminals)
    control = kept_table(hmm, trees, "masking", 0.5, seed=1)
    assert set(control.observable) == {"tokens"}


def test_change_spins_and_correlations():
    g = random_grammar(10, 4, 12, 4, 3, overlap=0.5, seed=2, lengths=(16,))
    trees = sample_sentences(g, 16, 6, seed=0)
    spins = change_spins(g, trees.tokens, "masking", 0.5, n_traj=12, seed=3)
    assert spins.shape == (6, 12, 16) and spins.dtype == np.int8
    assert np.array_equal(spins, change_spins(g, trees.tokens, "masking", 0.5, n_traj=12, seed=3))
    assert (spins == 1).any() and (spins == -1).any()
    corr = change_correlations(spins, n_boot=50, seed=0)
    assert list(corr.correlations["r"]) == list(range(16))
    assert np.isfinite(corr.susceptibility["chi"]).all()
    hmm = fit_markov_chain(trees.tokens, g.n_terminals)
    assert change_spins(hmm, trees.tokens, "uniform", 0.5, n_traj=4, seed=3).shape == (6, 4, 16)
    with pytest.raises(ValueError, match="n_traj"):
        change_spins(g, trees.tokens, "masking", 0.5, n_traj=1, seed=3)
    with pytest.raises(TypeError, match="model"):
        change_spins("grammar", trees.tokens, "masking", 0.5, n_traj=3, seed=3)


@pytest.mark.slow  # over a second: 31 co-change tables
def test_constituent_cochange_errors_agree_with_the_jackknife_over_x0():
    """The delta-method errors against a leave-one-x0-out jackknife of the same ratios (they
    agree to O(1/n_x0))."""
    g = random_grammar(8, 3, 9, 3, 3, overlap=0.3, seed=0, law="zipf", lengths=(12,))
    trees = sample_sentences(g, 12, 30, seed=5)
    rng = np.random.default_rng(1)
    spins = np.where(rng.random((30, 16, 12)) < 0.3, 1, -1).astype(np.int8)
    full = constituent_cochange(spins, trees)
    drops = [constituent_cochange(np.delete(spins, i, 0),
                                  Trees(*(np.delete(t.numpy(), i, 0) for t in trees)))
             for i in range(30)]
    for k, column in (("co_change", "mean_enclosing_width"), ("co_change", "width_excess"),
                      ("all", "mean_lca_height")):
        rows = full.weighting == k
        values = np.stack([d.loc[d.weighting == k, column].to_numpy() for d in drops])
        jack = np.sqrt(29 / 30 * ((values - values.mean(0)) ** 2).sum(0))
        se = full.loc[rows, f"{column}_se" if column != "width_excess" else "width_excess_se"]
        ok = jack > 0
        np.testing.assert_allclose(se.to_numpy()[ok], jack[ok], rtol=0.1)


def test_constituent_cochange_equals_a_pair_loop():
    g = random_grammar(8, 3, 9, 3, 3, overlap=0.3, seed=0, law="zipf", lengths=(9,))
    trees = sample_sentences(g, 9, 3, seed=4)
    rng = np.random.default_rng(0)
    spins = np.where(rng.random((3, 7, 9)) < 0.4, 1, -1).astype(np.int8)
    table = constituent_cochange(spins, trees)
    n = 9
    for r in (1, 3, 8):
        acc = {"all": [0.0, 0.0, 0.0], "co_change": [0.0, 0.0, 0.0], "connected": [0.0, 0.0, 0.0]}
        per_x0 = {k: np.zeros((3, 2)) for k in acc}  # x0, (weight, weight * width)
        for x in range(3):
            width, height = enclosing_constituents(trees.spans[x], n)
            s = spins[x].astype(float)
            c = s - s.mean(0)
            for i in range(n):
                for j in range(n):
                    if abs(i - j) != r:
                        continue
                    ws = {"all": 1.0,
                          "co_change": float(((spins[x, :, i] == 1) & (spins[x, :, j] == 1)).sum()),
                          "connected": float((c[:, i] * c[:, j]).mean())}
                    for k, w in ws.items():
                        acc[k][0] += w
                        acc[k][1] += w * width[i, j]
                        acc[k][2] += w * height[i, j]
                        per_x0[k][x] += (w, w * width[i, j])
        base = acc["all"][1] / acc["all"][0]
        for k, (w, ww, wh) in acc.items():
            row = table[(table.r == r) & (table.weighting == k)].iloc[0]
            assert row["weight"] == pytest.approx(w, abs=1e-12)
            if w > 0:
                assert row["mean_enclosing_width"] == pytest.approx(ww / w, rel=1e-12)
                assert row["mean_lca_height"] == pytest.approx(wh / w, rel=1e-12)
                assert row["width_excess"] == pytest.approx(ww / w - base, abs=1e-12)
                # the delta method over the 3 x0, written out
                infl = ((per_x0[k][:, 1] - ww / w * per_x0[k][:, 0]) / w
                        - (per_x0["all"][:, 1] - base * per_x0["all"][:, 0]) / acc["all"][0])
                assert row["width_excess_se"] == pytest.approx(
                    np.sqrt(1.5 * np.sum(infl**2)), rel=1e-9, abs=1e-15)
    assert (table[table.weighting == "all"]["width_excess_se"] == 0).all()
    with pytest.raises(ValueError, match="spins"):
        constituent_cochange(spins[:, :, :5], trees)
    with pytest.raises(ValueError, match="trees"):
        constituent_cochange(spins, Trees(trees.tokens, trees.spans[:, :3]))


def test_noisy_evidence_is_the_noise_module_with_independent_masks():
    x = torch.randint(5, (4, 30), generator=torch.Generator().manual_seed(0))
    ev = noisy_evidence(x, 5, "masking", 0.5, seed=2)
    masked = (ev == 0).all(-1)
    assert 0 < float(masked.double().mean()) < 1
    assert masked.sum(1).unique().numel() > 1  # independent masks: counts differ per sentence
    assert torch.equal(ev, noise.forward_evidence("masking", x, 5, 0.5, _seed(2),
                                                  independent_masks=True))


def _seed(seed):
    from hierphase.seeding import derive_seed

    return derive_seed(seed, "grammar.noise")
