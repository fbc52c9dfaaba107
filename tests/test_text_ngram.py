"""The n-gram control: fitted counts, exact posterior marginals and samples against brute-force
enumeration of every sequence of a tiny vocabulary."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hierphase.text.ngram import fit_ngram

V, L = 3, 5


def _training(seed=0):
    rng = np.random.default_rng(seed)
    # a chain that stays or steps up by one (mod V): the step 0 -> 2 never occurs; sequences of
    # different lengths
    return [np.cumsum(rng.integers(0, 2, size=k)) % V for k in (7, 12, 4, 9)]


def _brute_posterior(model, x, mask):
    """p(y | visible) over all V**L sequences y, by enumeration."""
    table = np.array(list(itertools.product(range(V), repeat=L)))
    logp = model.log_prob(table)
    ok = ((table == x) | mask).all(axis=1)
    w = np.where(ok, np.exp(logp), 0.0)
    return table, w / w.sum()


@pytest.mark.parametrize("order", [1, 2, 3])
def test_probabilities_sum_to_one_and_counts_are_smoothed(order):
    model = fit_ngram(_training(), order, V, alpha=0.5)
    table = np.array(list(itertools.product(range(V), repeat=L)))
    assert np.exp(model.log_prob(table)).sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(model.transition.sum(1), 1) and model.initial.sum() == pytest.approx(1)
    if order == 2:  # P(w | c) = (count(c, w) + alpha) / (count(c) + alpha V), by hand
        counts = np.zeros((V, V))
        for s in _training():
            for a, b in zip(s[:-1], s[1:]):
                counts[a, b] += 1
        assert np.allclose(model.transition, (counts + 0.5) / (counts.sum(1, keepdims=True) + 0.5 * V))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_marginals_match_enumeration(order):
    model = fit_ngram(_training(), order, V, alpha=0.3)
    rng = np.random.default_rng(order)
    x = rng.integers(0, V, size=(6, L))
    mask = rng.random((6, L)) < 0.6
    mask[0] = True  # fully hidden: the prior marginals
    got = model.marginals(x, mask)
    for r in range(6):
        table, post = _brute_posterior(model, x[r], mask[r])
        exact = np.stack([np.bincount(table[:, i], weights=post, minlength=V) for i in range(L)])
        assert np.allclose(got[r], exact, atol=1e-12), (r, got[r], exact)


@pytest.mark.parametrize("order", [2, 3])
def test_samples_follow_the_exact_joint_posterior(order):
    model = fit_ngram(_training(), order, V, alpha=0.3)
    x = np.array([[1, 0, 2, 2, 1]])
    mask = np.array([[True, True, False, True, True]])
    count = 30000
    out = model.sample(np.repeat(x, count, 0), np.repeat(mask, count, 0), seed=4)
    assert (out[:, 2] == 2).all()
    table, post = _brute_posterior(model, x[0], mask[0])
    codes = (out * V ** np.arange(L - 1, -1, -1)).sum(1)
    freq = np.bincount(codes, minlength=V**L) / count
    tcodes = (table * V ** np.arange(L - 1, -1, -1)).sum(1)
    exact = np.zeros(V**L)
    exact[tcodes] = post
    se = np.sqrt(exact * (1 - exact) / count)
    assert np.all(np.abs(freq - exact) <= 5 * se + 1e-12)


def test_denoiser_is_seeded_and_keeps_visible_tokens():
    model = fit_ngram(_training(), 2, V)
    den = model.denoiser(chunk=3)
    x = torch.tensor(np.random.default_rng(0).integers(0, V, size=(7, L)))
    mask = torch.rand(7, L, generator=torch.Generator().manual_seed(0)) < 0.5
    a = den(x, mask, 0.5, 11)
    assert torch.equal(a, den(x, mask, 0.5, 11)) and torch.equal(a[~mask], x[~mask])
    assert a.dtype == torch.long and a.shape == x.shape


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="order"):
        fit_ngram(_training(), 0, V)
    with pytest.raises(ValueError, match="sequences"):
        fit_ngram([np.array([0, 5])], 2, V)
    with pytest.raises(ValueError, match="transition entries"):
        fit_ngram(_training(), 5, 100)
    model = fit_ngram(_training(), 2, V, alpha=0.0)
    with pytest.raises(ValueError, match="probability 0"):
        model.marginals(np.array([[0, 2, 0, 2, 0]]), np.zeros((1, L), dtype=bool))
