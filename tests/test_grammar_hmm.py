"""Tests of the HMM control of the grammar branch (hierphase.grammar.hmm): forward-backward and
posterior sampling against brute-force enumeration of every (state, token) sequence, the
count-fitted Markov chain against hand counts, Baum-Welch's monotone likelihood."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
import torch

from hierphase import noise
from hierphase.grammar import random_grammar, sample_sentences
from hierphase.grammar.hmm import (fit_hmm, fit_markov_chain, hmm_from_dict, hmm_posterior,
                                   hmm_sample_posterior, hmm_to_dict, make_hmm)

DRAWS = 20_000


def tiny_hmm():
    return make_hmm([0.6, 0.4], [[0.7, 0.3], [0.2, 0.8]],
                    [[0.5, 0.4, 0.1], [0.1, 0.3, 0.6]])


def brute_force(hmm, log_evidence):
    n, V = log_evidence.shape
    K = hmm.n_states
    ev = torch.exp(log_evidence).tolist()
    init, trans, emis = hmm.initial.tolist(), hmm.transition.tolist(), hmm.emission.tolist()
    cells = {}
    for states in itertools.product(range(K), repeat=n):
        p_states = init[states[0]]
        for t in range(1, n):
            p_states *= trans[states[t - 1]][states[t]]
        for x in itertools.product(range(V), repeat=n):
            w = p_states
            for t in range(n):
                w *= emis[states[t]][x[t]] * ev[t][x[t]]
            if w > 0:
                cells[(states, x)] = w
    z = sum(cells.values())
    tokens = torch.zeros(n, V, dtype=torch.float64)
    state_marg = torch.zeros(n, K, dtype=torch.float64)
    for (states, x), w in cells.items():
        for t in range(n):
            tokens[t, x[t]] += w / z
            state_marg[t, states[t]] += w / z
    return {"cells": {k: v / z for k, v in cells.items()}, "log_z": math.log(z),
            "tokens": tokens, "states": state_marg}


def _evidence(n, V, seed):
    gen = torch.Generator().manual_seed(seed)
    ev = torch.randn((n, V), generator=gen, dtype=torch.float64)
    ev[0, 1] = -torch.inf
    ev[2] = 0.0  # a masked token
    return ev


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_forward_backward_equals_brute_force():
    hmm = tiny_hmm()
    evs = torch.stack([_evidence(5, 3, seed) for seed in range(4)])
    post = hmm_posterior(hmm, evs)
    for j in range(4):
        exact = brute_force(hmm, evs[j])
        assert torch.allclose(post.tokens[j], exact["tokens"], atol=1e-10, rtol=0)
        assert torch.allclose(post.states[j], exact["states"], atol=1e-10, rtol=0)
        assert abs(float(post.log_likelihood[j]) - exact["log_z"]) < 1e-10


def test_posterior_samples_match_brute_force():
    hmm = tiny_hmm()
    n = 4
    ev = _evidence(n, 3, seed=5)
    exact = brute_force(hmm, ev)
    s = hmm_sample_posterior(hmm, ev.unsqueeze(0), seed=3, n_samples=DRAWS)
    counts = Counter(zip(map(tuple, s.states[0].tolist()), map(tuple, s.tokens[0].tolist())))
    worst = 0.0
    for cell in set(counts) | set(exact["cells"]):
        p = exact["cells"].get(cell, 0.0)
        assert p > 0, f"impossible cell {cell} drawn"
        worst = max(worst, abs(counts.get(cell, 0) - DRAWS * p) / math.sqrt(DRAWS * p * (1 - p)))
    assert worst < 5
    again = hmm_sample_posterior(hmm, ev.unsqueeze(0), seed=3, n_samples=DRAWS)
    assert torch.equal(again.tokens, s.tokens)


def test_markov_chain_counts():
    x = torch.tensor([[0, 1, 1, 2], [1, 1, 0, 0]])
    hmm = fit_markov_chain(x, 3, smoothing=1e-12)
    counts = torch.tensor([[1, 1, 0], [1, 2, 1], [0, 0, 0]], dtype=torch.float64)
    assert torch.allclose(hmm.transition[:2], counts[:2] / counts[:2].sum(1, keepdim=True),
                          atol=1e-10)
    assert torch.allclose(hmm.transition[2], torch.full((3,), 1 / 3, dtype=torch.float64))
    assert torch.allclose(hmm.initial, torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64),
                          atol=1e-10)
    assert torch.equal(hmm.emission, torch.eye(3, dtype=torch.float64))


def test_baum_welch_raises_the_likelihood_of_grammar_sentences():
    g = random_grammar(8, 3, 6, 3, 2, overlap=0.5, seed=1, lengths=(16,))
    x = sample_sentences(g, 16, 200, seed=0).tokens
    hmm, history = fit_hmm(x, 4, g.n_terminals, seed=0, n_iter=25)
    assert len(history) >= 5
    assert all(b >= a - 1e-9 for a, b in zip(history, history[1:]))
    assert history[-1] > history[0] + 1.0
    # the fitted model scores held-out sentences of the grammar as its last iteration did
    held = sample_sentences(g, 16, 200, seed=9).tokens
    ev = noise.masking_evidence(held, torch.zeros_like(held, dtype=torch.bool), g.n_terminals)
    assert abs(float(hmm_posterior(hmm, ev).log_likelihood.mean()) - history[-1]) < 2.0


def test_dict_round_trip():
    hmm = tiny_hmm()
    back = hmm_from_dict(hmm_to_dict(hmm))
    assert all(torch.equal(getattr(back, k), getattr(hmm, k))
               for k in ("initial", "transition", "emission"))
    with pytest.raises(ValueError, match="lacks"):
        hmm_from_dict({"initial": hmm.initial})


def test_refusals():
    with pytest.raises(ValueError, match="transition"):
        make_hmm([1.0], [[0.5, 0.5]], [[1.0]])
    with pytest.raises(ValueError, match="every row"):
        make_hmm([1.0], [[0.5]], [[1.0]])
    hmm = tiny_hmm()
    with pytest.raises(ValueError, match="log_evidence"):
        hmm_posterior(hmm, torch.zeros(1, 3, 4))
    impossible = torch.full((1, 2, 3), -torch.inf, dtype=torch.float64)
    impossible[:, :, 0] = 0.0
    two_state = make_hmm([1.0, 0.0], [[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match="probability 0"):
        hmm_posterior(two_state, impossible)
    with pytest.raises(ValueError, match="n_states"):
        fit_hmm(torch.zeros(2, 3, dtype=torch.long), 0, 3, seed=0)
    with pytest.raises(ValueError, match="tokens"):
        fit_markov_chain(torch.tensor([[0, 5]]), 3)
