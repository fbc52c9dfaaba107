"""hierphase.observables: per-level probabilities of the true latent, kept fractions, kept table."""

import math

import numpy as np
import pytest
import torch

from hierphase import bp, noise, rhm
from hierphase.observables import (KEPT_COLUMNS, kept_fraction, kept_indicators, kept_table,
                                   true_latent_probability)
from hierphase.stats import wilson_interval


def test_true_latent_probability_and_kept():
    marg = [torch.tensor([[[0.2, 0.8]], [[0.6, 0.4]]]),
            torch.tensor([[[0.1, 0.9, 0.0], [0.5, 0.25, 0.25]], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])]
    trees = [torch.tensor([[1], [1]]), torch.tensor([[1, 2], [0, 0]])]
    p = true_latent_probability(marg, trees)
    assert torch.allclose(p[0], torch.tensor([[0.8], [0.4]]))
    assert torch.allclose(p[1], torch.tensor([[0.9, 0.25], [1.0, 0.0]]))
    samples = [torch.tensor([[1], [0]]), torch.tensor([[1, 0], [0, 0]])]
    assert torch.equal(kept_indicators(samples, trees)[1], torch.tensor([[True, False], [True, True]]))
    frac = kept_fraction(samples, trees)
    assert torch.equal(frac[0], torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert torch.equal(frac[1], torch.tensor([0.5, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="levels"):
        kept_fraction(samples[:1], trees)


def test_kept_table_from_bp():
    rules = rhm.sample_rules(8, 3, 2, 3, seed=0)
    trees = rhm.sample_trees(rules, 200, seed=0)
    ev = noise.epsilon_evidence(trees[-1], 0.6, 8)
    p_true = true_latent_probability(bp.marginals(rules, ev), trees)
    kept = kept_fraction(bp.sample_posterior(rules, ev, seed=1), trees)
    df = kept_table(p_true, kept, experiment="demo", process="epsilon", L=3, rule_seed=0, noise=0.6)
    assert list(df.columns) == KEPT_COLUMNS
    assert df["level"].tolist() == [0, 1, 2, 3] and (df["n"] == 200).all()
    assert (df["model"] == "bp").all() and df["t"].isna().all() and df["t_over_T"].isna().all()
    for level, row in df.iterrows():
        assert row.kept_marginal == pytest.approx(float(p_true[level].mean()))
        assert row.kept_sampled == pytest.approx(float(kept[level].mean()))
        assert row.ci_low <= row.kept_sampled <= row.ci_high
    lo, hi = wilson_interval(df.kept_sampled[0] * 200, 200)
    assert (df.ci_low[0], df.ci_high[0]) == pytest.approx((float(lo), float(hi)))
    # indicators give the same table as fractions
    same = kept_table(p_true, kept_indicators(bp.sample_posterior(rules, ev, seed=1), trees),
                      experiment="demo", process="epsilon", L=3, rule_seed=0, noise=0.6)
    assert np.allclose(same.kept_sampled, df.kept_sampled)


def test_kept_table_time_process_without_marginals():
    kept = [torch.tensor([1.0, 0.0, 1.0, 1.0]), torch.tensor([[1, 1], [0, 1], [1, 0], [1, 1]])]
    df = kept_table(None, kept, experiment="x", process="gaussian", L=1, rule_seed=3, noise=0.25,
                    t=250, t_over_T=0.25, model="mlp", invalid_rate=0.1)
    assert list(df.columns) == KEPT_COLUMNS + ["invalid_rate"]
    assert df.kept_marginal.isna().all() and (df.invalid_rate == 0.1).all()
    assert df.t.tolist() == [250.0, 250.0] and df.kept_sampled.tolist() == [0.75, 0.75]
    assert not math.isnan(df.ci_low[1])


def test_batches_of_different_sizes_are_refused():
    rules = rhm.sample_rules(4, 2, 2, 2, seed=0)
    trees = rhm.sample_trees(rules, 6, seed=1)
    marg = [torch.nn.functional.one_hot(t, 4).double() for t in trees]
    with pytest.raises(ValueError, match="level 0 has .batch, nodes. .6, 1. and .5, 1."):
        true_latent_probability(marg, [t[:5] for t in trees])
    with pytest.raises(ValueError, match="same data"):
        kept_indicators(trees, [t[:5] for t in trees])
    assert [p.shape for p in true_latent_probability(marg, trees)] == [(6, 1), (6, 2), (6, 4)]


def test_wilson_interval_is_scipys_on_whole_columns():
    """The vectorised Wilson interval equals SciPy's, count by count; n = 0 gives NaN."""
    from scipy import stats

    k = np.array([0, 1, 7, 50, 199, 200])
    n = np.array([200, 200, 20, 100, 200, 200])
    lo, hi = wilson_interval(k, n)
    for i in range(len(k)):
        ci = stats.binomtest(int(k[i]), int(n[i])).proportion_ci(method="wilson")
        assert (lo[i], hi[i]) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert np.isnan(wilson_interval(0, 0)).all()


def test_ratio_of_sums_error_is_the_standard_error_of_a_plain_mean():
    """With equal weights the ratio of sums is the mean and its delta-method error (with the
    ratio estimator's k / (k - 1)) is the usual standard error, std(ddof=1) / sqrt(k); with
    unequal weights it is the weighted mean; one unit gives NaN."""
    from hierphase.stats import influence_se, ratio_influence

    x = np.random.default_rng(0).normal(size=(40, 3))
    ratio, influence = ratio_influence(x, np.ones_like(x))
    assert np.allclose(ratio, x.mean(0), atol=1e-12)
    assert np.allclose(influence_se(influence), x.std(0, ddof=1) / np.sqrt(40), atol=1e-12)
    w = np.arange(1.0, 41.0)
    assert ratio_influence(w * x[:, 0], w)[0] == pytest.approx(np.average(x[:, 0], weights=w))
    assert np.isnan(influence_se(ratio_influence([1.0], [2.0])[1]))
