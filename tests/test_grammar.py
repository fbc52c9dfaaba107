"""Tests of hierphase.grammar: grammars, inside-outside posteriors and exact sampling, against
brute-force enumeration of every (tree, token string) on tiny grammars, a log-space oracle, and
the RHM's belief propagation."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
import torch

from hierphase import bp, noise, rhm
from hierphase.grammar import (Grammar, grammar_from_dict, grammar_to_dict, length_probability,
                               make_grammar, parse_pcfg, posterior, random_grammar, read_pcfg,
                               rhm_grammar, rhm_level_marginals, sample_posterior,
                               sample_sentences, span_chart)

DRAWS = 20_000


# ----------------------------------------------------------------------------- brute force
def _derivations(g: Grammar, a: int, i: int, w: int):
    """Every derivation of w tokens from a at i: (probability, spans, preterminal per position)."""
    if w == 1:
        if float(g.lexical[a].sum()) > 0:
            yield 1.0, ((i, 1, a),), (a,)
        return
    for (parent, b, c), p in zip(g.binary.tolist(), g.binary_prob.tolist()):
        if parent != a:
            continue
        for k in range(1, w):
            for pl, sl, ll in _derivations(g, b, i, k):
                for pr, sr, lr in _derivations(g, c, i + k, w - k):
                    yield p * pl * pr, ((i, w, a),) + sl + sr, ll + lr


def brute_force(g: Grammar, log_evidence: torch.Tensor) -> dict:
    """Joint weights of every (tree spans, tokens) of one sentence and the exact marginals, or None
    when the sentence has probability 0."""
    n, V = log_evidence.shape
    ev = torch.exp(log_evidence).tolist()
    lex = g.lexical.tolist()
    cells = {}
    for a in range(g.n_nonterminals):
        if float(g.root[a]) == 0:
            continue
        for p, spans, pre in _derivations(g, a, 0, n):
            for x in itertools.product(range(V), repeat=n):
                wgt = float(g.root[a]) * p
                for j in range(n):
                    wgt *= lex[pre[j]][x[j]] * ev[j][x[j]]
                if wgt > 0:
                    cells[(tuple(sorted(spans, key=lambda s: (s[0], -s[1]))), x)] = wgt
    z = sum(cells.values())
    if z == 0:
        return None
    tokens = torch.zeros(n, V, dtype=torch.float64)
    spans = torch.zeros(n, n, g.n_nonterminals, dtype=torch.float64)
    root = torch.zeros(g.n_nonterminals, dtype=torch.float64)
    for (tree, x), wgt in cells.items():
        for j in range(n):
            tokens[j, x[j]] += wgt / z
        for (i, w, a) in tree:
            spans[i, w - 1, a] += wgt / z
        root[tree[0][2]] += wgt / z
    return {"cells": {k: v / z for k, v in cells.items()}, "log_z": math.log(z), "tokens": tokens,
            "spans": spans, "root": root}


def ambiguous_grammar() -> Grammar:
    """S -> S S | A S | a | b; A -> S A | a | c: a nonterminal may be lexical and binary."""
    binary = [(0, 0, 0), (0, 1, 0), (1, 0, 1)]
    return make_grammar(binary, [0.3, 0.2, 0.4], [[0.3, 0.2, 0.0], [0.35, 0.0, 0.25]], [0.7, 0.3],
                        nonterminals=["S", "A"], terminals=["a", "b", "c"])


def tiny_grammars():
    return {
        "random": random_grammar(5, 2, 3, 2, 2, overlap=0.5, seed=3, lengths=(4, 9)),
        "random_zipf": random_grammar(4, 2, 3, 3, 2, overlap=1.0, seed=5, law="zipf",
                                      zipf_exponent=1.5, n_roots=2, lengths=(4,)),
        "ambiguous": ambiguous_grammar(),
        "rhm": rhm_grammar(rhm.sample_rules(2, 2, 2, 2, seed=1)),
        "text": parse_pcfg(TEXT_GRAMMAR),
    }


TEXT_GRAMMAR = """
# a toy grammar with a ternary rule and a terminal inside a binary rule
%start S
S -> NP VP [0.7] | S 'and' S [0.3]
NP -> 'x' [0.5] | NP NP [0.3] \\
      | 'y' [0.2]
VP -> 'v' [0.6] | VP NP [0.4]   # a comment with 'quotes'
"""


def _evidence(n: int, V: int, seed: int, masked: float = 0.3) -> torch.Tensor:
    """Random log-evidence with some impossible values (-inf) and some masked tokens (all 0)."""
    gen = torch.Generator().manual_seed(seed)
    ev = torch.randn((n, V), generator=gen, dtype=torch.float64)
    drop = torch.rand((n, V), generator=gen) < 0.25
    drop[torch.arange(n), torch.randint(V, (n,), generator=gen)] = False
    ev[drop] = -torch.inf
    ev[torch.rand(n, generator=gen) < masked] = 0.0
    return ev


@pytest.mark.parametrize("name", ["random", "random_zipf", "ambiguous", "rhm", "text"])
def test_marginals_equal_brute_force(name):
    g = tiny_grammars()[name]
    n = 4
    evs, exact = [], []
    for seed in range(6):
        ev = _evidence(n, g.n_terminals, seed)
        if seed == 0:
            ev = torch.zeros_like(ev)  # no evidence: the grammar conditioned on the length
        e = brute_force(g, ev)
        if e is not None:  # probability 0 is skipped here (posterior refuses it, tested below)
            exact.append(e)
            evs.append(ev)
    assert len(evs) >= 3
    for backend in ("numba", "torch"):
        post = posterior(g, torch.stack(evs), backend=backend)
        for j, e in enumerate(exact):
            assert torch.allclose(post.tokens[j], e["tokens"], atol=1e-10, rtol=0)
            assert torch.allclose(post.spans[j], e["spans"], atol=1e-10, rtol=0)
            assert torch.allclose(post.root[j], e["root"], atol=1e-10, rtol=0)
            assert abs(float(post.log_likelihood[j]) - e["log_z"]) < 1e-10


def _per_cell_z(counts: Counter, probs: dict, draws: int) -> float:
    """Largest |count - draws p| / sqrt(draws p (1 - p)) over the cells; inf for an impossible
    cell drawn."""
    worst = 0.0
    for cell in set(counts) | set(probs):
        p = probs.get(cell, 0.0)
        if p == 0.0:
            if counts.get(cell, 0):
                return math.inf
            continue
        se = math.sqrt(draws * p * (1 - p)) or 1.0
        worst = max(worst, abs(counts.get(cell, 0) - draws * p) / se)
    return worst


def _cells(trees, n) -> Counter:
    spans = trees.spans.reshape(-1, 2 * n - 1, 3).tolist()
    tokens = trees.tokens.reshape(-1, n).tolist()
    return Counter((tuple(map(tuple, s)), tuple(x)) for s, x in zip(spans, tokens))


@pytest.mark.parametrize("name", ["random", "ambiguous", "text"])
def test_posterior_samples_match_brute_force(name):
    g = tiny_grammars()[name]
    n = 4
    ev = _evidence(n, g.n_terminals, seed=11, masked=0.5)
    exact = brute_force(g, ev)
    trees = sample_posterior(g, ev.unsqueeze(0), seed=7, n_samples=DRAWS)
    assert trees.tokens.shape == (1, DRAWS, n) and trees.spans.shape == (1, DRAWS, 2 * n - 1, 3)
    assert len(exact["cells"]) > 5
    assert _per_cell_z(_cells(trees, n), exact["cells"], DRAWS) < 5


@pytest.mark.parametrize("name", ["random_zipf", "ambiguous", "text"])
def test_sentences_of_length_n_match_brute_force(name):
    g = tiny_grammars()[name]
    n = 4
    exact = brute_force(g, torch.zeros(n, g.n_terminals, dtype=torch.float64))
    trees = sample_sentences(g, n, DRAWS, seed=2)
    assert _per_cell_z(_cells(trees, n), exact["cells"], DRAWS) < 5
    # the probability of the length: the brute-force total weight with no evidence
    assert abs(length_probability(g, n) - exact["log_z"]) < 1e-10


def test_sampling_is_deterministic_in_the_seed():
    g = tiny_grammars()["random"]
    a, b = sample_sentences(g, 9, 50, seed=4), sample_sentences(g, 9, 50, seed=4)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.spans, b.spans)
    c = sample_sentences(g, 9, 50, seed=5)
    assert not torch.equal(a.tokens, c.tokens)
    ev = noise.epsilon_evidence(a.tokens, 0.5, g.n_terminals)
    s1, s2 = sample_posterior(g, ev, seed=1), sample_posterior(g, ev, seed=1)
    assert torch.equal(s1.tokens, s2.tokens) and torch.equal(s1.spans, s2.spans)


def test_samples_do_not_depend_on_the_number_of_threads():
    import numba

    g = tiny_grammars()["random"]
    x = sample_sentences(g, 9, 6, seed=3).tokens
    ev = noise.epsilon_evidence(x, 0.7, g.n_terminals)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sample_posterior(g, ev, seed=8, n_samples=3), sample_sentences(g, 9, 20, seed=1)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = sample_posterior(g, ev, seed=8, n_samples=3), sample_sentences(g, 9, 20, seed=1)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many):
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.spans, b.spans)


def test_backends_agree_on_long_sentences():
    g = random_grammar(9, 4, 10, 4, 3, overlap=0.6, seed=4, law="zipf", lengths=(40,))
    x = sample_sentences(g, 40, 3, seed=0).tokens
    ev = noise.uniform_evidence(noise.uniform_forward(x, g.n_terminals, 0.4, seed=1), 0.4,
                                g.n_terminals)
    a, b = posterior(g, ev, backend="numba"), posterior(g, ev, backend="torch")
    for name in a._fields:
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=1e-12, rtol=1e-12), name


def test_sampled_trees_are_trees_of_the_grammar():
    """Every sampled tree has 2n-1 nested spans that tile its parent, rules of the grammar and
    the sampled tokens at its preterminals; its span chart has one label per span."""
    g = random_grammar(8, 3, 9, 3, 3, overlap=0.3, seed=0, law="zipf", lengths=(17,))
    n = 17
    trees = sample_sentences(g, n, 40, seed=0)
    rules = set(map(tuple, g.binary.tolist()))
    chart = span_chart(trees.spans, n)
    for spans, x in zip(trees.spans.tolist(), trees.tokens.tolist()):
        assert spans[0][:2] == [0, n]
        by_span = {(i, w): a for i, w, a in spans}
        for i, w, a in spans:
            if w == 1:
                assert float(g.lexical[a, x[i]]) > 0
                continue
            ks = [k for k in range(1, w) if (i, k) in by_span and (i + k, w - k) in by_span]
            assert len(ks) == 1
            k = ks[0]
            assert (a, by_span[(i, k)], by_span[(i + k, w - k)]) in rules
    assert int((chart >= 0).sum()) == 40 * (2 * n - 1)


# ----------------------------------------------------------------------------- exactness at length
def _log_space_inside(g: Grammar, log_evidence: torch.Tensor) -> torch.Tensor:
    """log Z per sentence, by a plain log-space recursion (logsumexp over splits and rules).
    Impossible entries are -1e30 instead of -inf, which keeps the gradients finite."""
    b, n, V = log_evidence.shape
    N = g.n_nonterminals
    never = -1e30
    log_rules = torch.full((N, N, N), never, dtype=torch.float64)
    log_rules[g.binary[:, 0], g.binary[:, 1], g.binary[:, 2]] = torch.log(g.binary_prob)
    log_lex = torch.log(g.lexical).clamp(min=never)
    chart = {}
    for i in range(n):
        chart[i, 1] = torch.logsumexp(log_lex.unsqueeze(0) + log_evidence[:, i].unsqueeze(1), -1)
    for w in range(2, n + 1):
        for i in range(n - w + 1):
            terms = [chart[i, k][:, None, :, None] + chart[i + k, w - k][:, None, None, :]
                     + log_rules.unsqueeze(0) for k in range(1, w)]
            chart[i, w] = torch.logsumexp(torch.stack(terms, -1).reshape(b, N, -1), -1)
    return torch.logsumexp(chart[0, n] + torch.log(g.root).clamp(min=never), -1)


def test_scaling_keeps_exactness_where_probabilities_underflow():
    """Evidence of about exp(-90) per token over 16 tokens (and rules with small probabilities):
    the sentence weight is far below float64's range, yet the log-likelihood equals a log-space
    recursion and the token marginals equal its gradient (autograd of log Z)."""
    g = random_grammar(6, 3, 4, 3, 2, overlap=0.7, seed=9, law="zipf", zipf_exponent=2.0,
                       lengths=(16,))
    n = 16
    x = sample_sentences(g, n, 2, seed=1).tokens
    ev = noise.uniform_evidence(x, 0.6, g.n_terminals) - 90.0
    ev.requires_grad_(True)
    ref = _log_space_inside(g, ev)
    grad = torch.autograd.grad(ref.sum(), ev)[0]
    post = posterior(g, ev.detach(), spans=False)
    assert float(ref.detach().max()) < -1000
    assert torch.allclose(post.log_likelihood, ref.detach(), rtol=1e-12, atol=0)
    assert torch.allclose(post.tokens, grad, atol=1e-10, rtol=0)


def test_long_sentences_have_normalised_posteriors():
    g = random_grammar(10, 4, 12, 4, 3, overlap=0.5, seed=2, lengths=(64,))
    n = 64
    x = sample_sentences(g, n, 3, seed=0)
    mask = noise.masking_forward(x.tokens, 0.5, seed=1, independent=True)
    post = posterior(g, noise.masking_evidence(x.tokens, mask, g.n_terminals))
    assert torch.allclose(post.tokens.sum(-1), torch.ones(3, n, dtype=torch.float64), atol=1e-12)
    # every token lies in exactly one width-1 span, and the root span is the whole sentence
    assert torch.allclose(post.spans[:, :, 0].sum(-1), torch.ones(3, n, dtype=torch.float64))
    assert torch.allclose(post.spans[:, 0, n - 1].sum(-1), torch.ones(3, dtype=torch.float64))
    # each sentence has exactly 2n - 1 constituents
    assert torch.allclose(post.spans.sum((1, 2, 3)), torch.full((3,), 2.0 * n - 1,
                                                                dtype=torch.float64))
    # unmasked tokens are known
    kept = post.tokens.gather(-1, x.tokens.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(kept[~mask], torch.ones(int((~mask).sum()), dtype=torch.float64))


# ----------------------------------------------------------------------------- the RHM
@pytest.mark.parametrize("s,L,process", [(2, 3, "epsilon"), (2, 4, "masking"), (3, 2, "uniform"),
                                         (4, 2, "epsilon")])
def test_rhm_grammar_equals_belief_propagation(s, L, process):
    rules = rhm.sample_rules(5, 3, s, L, n_classes=4, seed=2)
    g = rhm_grammar(rules)
    trees = rhm.sample_trees(rules, 12, seed=3)
    ev = noise.forward_evidence(process, trees[-1], rules.v, 0.6, seed=4, independent_masks=True)
    post = posterior(g, ev)
    for ours, theirs in zip(rhm_level_marginals(rules, post.spans), bp.marginals(rules, ev)):
        assert torch.allclose(ours, theirs, atol=1e-10, rtol=0)
    assert torch.allclose(post.root[:, : rules.n_classes], bp.class_posterior(rules, ev),
                          atol=1e-10, rtol=0)
    assert torch.allclose(post.tokens, bp.marginals(rules, ev)[-1], atol=1e-10, rtol=0)


def test_rhm_grammar_generates_the_rhm_trees():
    """Sentences of the RHM grammar parse as RHM data, their labelled spans are the RHM's latent
    tree, and classes and rules are uniform (within 5 standard errors)."""
    rules = rhm.sample_rules(4, 2, 2, 3, n_classes=3, seed=0)
    g = rhm_grammar(rules)
    count = 6000
    trees = sample_sentences(g, rules.d, count, seed=1)
    parsed = rhm.parse(rules, trees.tokens)
    assert bool(parsed.valid.all())
    chart = span_chart(trees.spans, rules.d)
    for level, latent in enumerate(parsed.latents):
        width = rules.s ** (rules.L - level)
        starts = torch.arange(rules.s**level) * width
        offset = sum(rules.n_symbols(k) for k in range(level))
        assert torch.equal(chart[:, starts, width - 1] - offset, latent)
    classes = torch.bincount(parsed.latents[0][:, 0], minlength=3).double()
    se = math.sqrt(count * (1 / 3) * (2 / 3))
    assert float((classes - count / 3).abs().max()) < 5 * se
    # first-level rules: within class c, rule k has probability 1/m
    first = parsed.latents[1].reshape(count, 1, rules.s)
    for c in range(3):
        rows = first[parsed.latents[0][:, 0] == c, 0]
        k0 = (rows == rules.tables[0][c, 0]).all(-1).double()
        n_c = rows.shape[0]
        assert abs(float(k0.sum()) - n_c / 2) < 5 * math.sqrt(n_c / 4)


# ----------------------------------------------------------------------------- grammars
def test_random_grammar_knobs():
    g0 = random_grammar(12, 5, 20, 4, 4, overlap=0.0, seed=1)
    pairs = g0.binary[:, 1] * 12 + g0.binary[:, 2]
    assert pairs.unique().numel() == pairs.numel()  # no right-hand side shared at overlap 0
    owners = (g0.lexical > 0).sum(0)
    assert int(owners.max()) == 1
    assert g0.n_binary == 7 * 4 and int((g0.lexical > 0).sum()) == 5 * 4
    g1 = random_grammar(12, 5, 20, 4, 4, overlap=1.0, seed=1)
    p1 = g1.binary[:, 1] * 12 + g1.binary[:, 2]
    assert p1.unique().numel() <= p1.numel()
    z = random_grammar(6, 2, 10, 4, 5, overlap=0.5, seed=3, law="zipf", zipf_exponent=1.0)
    probs = sorted(z.binary_prob[:4].tolist(), reverse=True)
    expected = [1 / k for k in range(1, 5)]
    assert probs == pytest.approx([e / sum(expected) for e in expected], abs=1e-15)
    again = random_grammar(6, 2, 10, 4, 5, overlap=0.5, seed=3, law="zipf", zipf_exponent=1.0)
    assert torch.equal(again.binary, z.binary) and torch.equal(again.lexical, z.lexical)
    shared = 0
    for seed in range(5):
        g = random_grammar(6, 2, 4, 6, 3, overlap=1.0, seed=seed)
        codes = g.binary[:, 1] * 6 + g.binary[:, 2]
        shared += codes.numel() - codes.unique().numel()
        assert int((g.lexical > 0).sum(0).max()) >= 1
    assert shared > 0  # at overlap 1 different nonterminals share right-hand sides


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_preterminals=6), "n_preterminals"),
    (dict(overlap=1.5), "overlap"),
    (dict(law="pareto"), "law"),
    (dict(n_binary=0), "n_binary"),
    (dict(n_lexical=9), "n_lexical"),
    (dict(n_roots=5), "n_roots"),
    (dict(overlap=0.0, n_lexical=3, n_terminals=5), "exclusive"),
    (dict(lengths=(1,)), "no draw in 100"),  # the root is phrasal: no sentence of 1 token
])
def test_random_grammar_refusals(kwargs, match):
    args = dict(n_nonterminals=6, n_preterminals=2, n_terminals=8, n_binary=2, n_lexical=2,
                overlap=0.5, seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        random_grammar(**args)


def test_grammar_dict_round_trip(tmp_path):
    from hierphase.io import load_tensors, save_tensors

    g = parse_pcfg(TEXT_GRAMMAR)
    save_tensors(tmp_path / "g.pt", grammar_to_dict(g))
    back = grammar_from_dict(load_tensors(tmp_path / "g.pt"))
    assert back.nonterminals == g.nonterminals and back.auxiliary == g.auxiliary
    for name in ("binary", "binary_prob", "lexical", "root"):
        assert torch.equal(getattr(back, name), getattr(g, name))
    with pytest.raises(ValueError, match="lacks"):
        grammar_from_dict({"binary": g.binary})


def test_make_grammar_refusals():
    ok = dict(binary=[(0, 0, 0)], binary_prob=[0.5], lexical=[[0.5, 0.0]], root=[1.0])
    make_grammar(**ok)
    for change, match in [(dict(binary_prob=[0.6]), "sum to"), (dict(root=[0.5]), "root sums"),
                          (dict(binary=[(0, 1, 0)]), r"\[0, N=1\)"),
                          (dict(binary=[(0, 0, 0), (0, 0, 0)], binary_prob=[0.25, 0.25]), "twice"),
                          (dict(lexical=[[1.5, -1.0]]), "lexical"),
                          (dict(binary=[[0.0, 0.0, 0.0]]), "integer")]:
        with pytest.raises(ValueError, match=match):
            make_grammar(**{**ok, **change})


def test_inputs_are_checked():
    g = ambiguous_grammar()
    with pytest.raises(ValueError, match="log_evidence"):
        posterior(g, torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="finite"):
        posterior(g, torch.full((1, 3, 3), -torch.inf))
    with pytest.raises(TypeError, match="grammar"):
        posterior("S -> a", torch.zeros(1, 3, 3))
    impossible = torch.full((1, 2, 3), -torch.inf, dtype=torch.float64)
    impossible[..., 2] = 0.0  # 'c c': only A yields c, and no rule makes A A
    with pytest.raises(ValueError, match="sentence 0 has probability 0"):
        posterior(g, impossible)
    with pytest.raises(ValueError, match="n_samples"):
        sample_posterior(g, torch.zeros(1, 3, 3), seed=0, n_samples=0)
    rhm_g = rhm_grammar(rhm.sample_rules(2, 2, 2, 2, seed=0))
    with pytest.raises(ValueError, match="no sentence of n=3"):
        sample_sentences(rhm_g, 3, 5, seed=0)
    assert length_probability(rhm_g, 3) == -math.inf


# ----------------------------------------------------------------------------- text grammars
def test_text_grammar_is_read_and_converted():
    g = parse_pcfg(TEXT_GRAMMAR)
    assert g.terminals == ("and", "x", "y", "v")
    assert g.nonterminals[:3] == ("S", "NP", "VP")
    assert g.root.tolist() == [1.0] + [0.0] * (g.n_nonterminals - 1)
    aux = [name for name, a in zip(g.nonterminals, g.auxiliary) if a]
    assert sorted(aux) == sorted(["<'and'>", "S|<and-S>"])
    # P(x v) = P(S -> NP VP) P(NP -> x) P(VP -> v), through the chart with one-hot evidence
    x = torch.tensor([[1, 3]])
    ev = noise.masking_evidence(x, torch.zeros_like(x, dtype=torch.bool), g.n_terminals)
    lp = posterior(g, ev).log_likelihood
    assert float(lp) == pytest.approx(math.log(0.7 * 0.5 * 0.6), abs=1e-14)
    # the ternary rule: x v and x v
    x = torch.tensor([[1, 3, 0, 1, 3]])
    ev = noise.masking_evidence(x, torch.zeros_like(x, dtype=torch.bool), g.n_terminals)
    assert float(posterior(g, ev).log_likelihood) == pytest.approx(
        math.log(0.3 * (0.7 * 0.5 * 0.6) ** 2), abs=1e-14)


@pytest.mark.parametrize("text,match", [
    ("S -> A [1.0]\nA -> 'a' [1.0]", "line 1: unit rule S -> A"),
    ("S -> 'a' [0.5]\nS -> 'b' [0.4]", "line 1: the probabilities of S sum to 0.9"),
    ("S -> 'a'", "line 1: alternative 'a' has no"),
    ("\n\nS -> A B [1.0]\nA -> 'a' [1.0]", "line 3: nonterminal 'B' has no production"),
    ("S -> 'a' [x]", r"line 1: probability \[x\] is not a number"),
    ("S -> 'a' [1.5]", r"must lie in \[0, 1\]"),
    ("S 'a' [1.0]", "line 1: expected"),
    ("S -> [1.0]", "empty right-hand side"),
    ("'S' -> 'a' [1.0]", "left-hand side"),
    ("%begin S\nS -> 'a' [1.0]", "line 1: only '%start NAME'"),
    ("S -> 'a' [0.5] | 'a' [0.5]", "appears twice"),
    ("# nothing", "no production"),
])
def test_text_grammar_refusals(text, match):
    with pytest.raises(ValueError, match=match):
        parse_pcfg(text)


def test_read_pcfg_names_the_file(tmp_path):
    path = tmp_path / "g.pcfg"
    path.write_text(TEXT_GRAMMAR)
    assert read_pcfg(path).n_terminals == 4
    path.write_text("S -> A [1.0]\n")
    with pytest.raises(ValueError, match="g.pcfg: line 1: unit rule"):
        read_pcfg(path)
