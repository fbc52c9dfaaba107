"""Exact posterior of noisy sentences under a CNF grammar: inside-outside, batched, scaled.

Evidence is per token: ``log_evidence[b, i, a] = log p(observation of token i | token i = a)``
up to a per-token constant (``-inf`` where a value is impossible), as :mod:`hierphase.noise`
makes it for masking, uniform-token and epsilon noise.

**Inside chart.** ``beta(A, i, w)`` is the probability that ``A`` derives the tokens ``i .. i+w-1``
weighted by their evidence. It is stored scaled: ``inside[b, i, w-1, A] = beta / exp(log_scale)``
with ``log_scale[b, i, w-1]`` the log of the largest entry of the span (``-inf`` for a span
nothing derives, whose row is then 0), so nothing under- or overflows at any length in float64::

    beta(A, i, w) = sum_{k=1}^{w-1} sum_{A -> B C} p(A -> B C) beta(B, i, k) beta(C, i+k, w-k).

For all spans of one width at once, the split sum is one batched matrix product
``M[B, C] = sum_k beta(B, i, k) beta(C, i+k, w-k)`` (each split weighted by its relative scale),
then the rules gather ``M`` at their ``(B, C)`` pairs: ``O(n**3 N**2 + n**2 |rules|)``
per sentence, in as many tensor operations as there are widths.

**Outside chart**, kept relative: ``outside[b, i, w-1, A] = alpha(A, i, w) exp(log_scale) / Z``
(``Z`` the sentence's total weight), so that the posterior probability that ``A`` spans
``(i, w)`` is ``outside * inside``; it runs over widths from ``n`` down with the transposed
products. Token marginals follow from the width-1 outside, the root's posterior from the whole
sentence's span.

**Sampling.** An exact joint posterior sample of (tree, tokens) goes top-down: the root symbol
``A ∝ root(A) beta(A, 0, n)``; a span ``(i, w)`` labelled ``A`` with ``w > 1`` draws its split
and rule ``(k, A -> B C) ∝ p beta(B, i, k) beta(C, i+k, w-k)``; a width-1 span labelled ``A``
draws its token ``a ∝ lexical[A, a] exp(log_evidence[i, a])``. Each tree consumes exactly 2n
uniforms (root, n - 1 splits, n tokens), drawn beforehand from the seed, so the samples do not
depend on the number of threads.

**Backends.** The numba kernels (:mod:`hierphase.grammar.kernels`) loop over the rules, in
parallel over sentences: at most ``n**3/6 |rules|`` multiply-adds per sentence. The torch
backend of :func:`posterior` is the dense reference described above (``n**3/6 N**2`` per
sentence). Memory: the labelled-span marginals take ``8 b n**2 N`` bytes (``spans=False``
skips them); each numba worker holds two ``8 n**2 N``-byte charts.

Trees are returned as their ``2n - 1`` labelled spans ``(start, width, symbol)`` in preorder
(sorted by start, then by decreasing width): :class:`Trees`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ..seeding import derive_seed, torch_generator
from . import kernels as _kernels
from ._checks import check_count, check_evidence
from .pcfg import Grammar

__all__ = ["Parse", "parse", "Posterior", "Trees", "posterior", "sample_posterior", "sample_sentences",
           "length_probability", "span_chart", "compile_kernels", "BATCH_BYTES", "BACKENDS"]

#: Backends of :func:`posterior` (sampling always runs the numba kernels).
BACKENDS = ("auto", "numba", "torch")

#: The torch backend processes sentences in chunks whose two charts take about this many bytes.
BATCH_BYTES = 1 << 28


class Chart(NamedTuple):
    """(torch backend) Scaled inside chart of a batch: ``inside`` (b, n, n, N) indexed
    ``[b, start, width-1, A]`` and ``log_scale`` (b, n, n) (entries with ``start + width > n``
    are 0 and ``-inf``);
    ``token_weights`` (b, n, V), the evidence ``exp(log_evidence - max)`` per token."""

    inside: torch.Tensor
    log_scale: torch.Tensor
    token_weights: torch.Tensor


class Posterior(NamedTuple):
    """Posterior of a batch of b noisy sentences of n tokens (float64):

    * ``tokens`` (b, n, V): the marginal of each token;
    * ``root`` (b, N): the root symbol's posterior (the class);
    * ``log_likelihood`` (b,): ``log sum_x p(x) prod_i exp(log_evidence[i, x_i])``;
    * ``spans`` (b, n, n, N) or None: ``spans[b, i, w-1, A]``, the probability that ``A`` spans
      the tokens ``i .. i+w-1`` (labelled constituent marginals; width 1: the preterminals)."""

    tokens: torch.Tensor
    root: torch.Tensor
    log_likelihood: torch.Tensor
    spans: torch.Tensor | None


class Trees(NamedTuple):
    """Sentences with their parse trees: ``tokens`` (b, n) int64 and ``spans`` (b, 2n-1, 3)
    int64 rows ``(start, width, symbol)`` in preorder (``spans[:, 0]`` is the root span)."""

    tokens: torch.Tensor
    spans: torch.Tensor


class _Rules(NamedTuple):
    """The binary rules as the torch backend uses them."""

    pairs: torch.Tensor  # (P,) distinct codes B * N + C of the right-hand sides
    weights: torch.Tensor  # (P, N): weights[p, A] = p(A -> pair p)


def _rules(grammar: Grammar) -> _Rules:
    n = grammar.n_nonterminals
    parent, left, right = grammar.binary.unbind(1)
    pairs, which = torch.unique(left * n + right, return_inverse=True)
    weights = torch.zeros((pairs.numel(), n), dtype=torch.float64)
    weights.index_put_((which, parent), grammar.binary_prob, accumulate=True)
    return _Rules(pairs, weights)


def _csr(grammar: Grammar, by: int) -> tuple:
    """The binary rules sorted by parent (``by=0``) or by left child (``by=1``), in CSR form:
    ``start`` (N+1,) (the rules of symbol X are ``start[X] .. start[X+1]``), then the other two
    symbols of each rule (parent, left, right less the sorted one, in that order) and its
    probability, as numpy arrays for the kernels."""
    key = grammar.binary[:, by]
    order = torch.argsort(key, stable=True)
    start = torch.zeros(grammar.n_nonterminals + 1, dtype=torch.long)
    start[1:] = torch.cumsum(torch.bincount(key, minlength=grammar.n_nonterminals), 0)
    others = [c for c in range(3) if c != by]
    return (start.numpy(), *(grammar.binary[order, c].contiguous().numpy() for c in others),
            grammar.binary_prob[order].contiguous().numpy())


def _kernel_args(grammar: Grammar, *by: int) -> tuple:
    """lexical, root and the CSR arrays for each grouping in ``by``."""
    out = (grammar.lexical.numpy(), grammar.root.numpy())
    for b in by:
        out += _csr(grammar, b)
    return out


def _raise_impossible(status: np.ndarray, offset: int = 0) -> None:
    bad = np.flatnonzero(status)
    if bad.size:
        raise ValueError(f"log_evidence: sentence {offset + int(bad[0])} has probability 0 under "
                         "the grammar (no parse tree is compatible with its evidence)")


def _check_grammar(grammar) -> Grammar:
    if not isinstance(grammar, Grammar):
        raise TypeError(f"grammar must be a hierphase.grammar.Grammar, got {type(grammar).__name__}")
    return grammar


def _normalise(x: torch.Tensor, log_base: torch.Tensor):
    """Rows of ``x`` (..., N) scaled to max 1; their log-scale ``log_base + log max`` (-inf: 0)."""
    top = x.amax(-1)
    ok = top > 0
    scaled = torch.where(ok.unsqueeze(-1), x / torch.where(ok, top, 1.0).unsqueeze(-1), 0.0)
    return scaled, torch.where(ok, log_base + torch.log(torch.where(ok, top, 1.0)), -torch.inf)


def _relative(log_terms: torch.Tensor, log_ref: torch.Tensor) -> torch.Tensor:
    """``exp(log_terms - log_ref[..., None])``, 0 where either is -inf."""
    ok = torch.isfinite(log_terms) & torch.isfinite(log_ref).unsqueeze(-1)
    return torch.where(ok, torch.exp(torch.where(ok, log_terms - log_ref.unsqueeze(-1), 0.0)), 0.0)


def _split_index(n: int, w: int):
    """Right-child spans of the width-``w`` spans: start ``i + k`` and width index ``w - k - 1``
    for positions ``i < n - w + 1`` and splits ``k = 1 .. w-1``, each (P, w-1)."""
    i = torch.arange(n - w + 1).unsqueeze(1)
    k = torch.arange(1, w).unsqueeze(0)
    return i + k, (w - k - 1).expand(i.shape[0], -1)


def _inside(grammar: Grammar, rules: _Rules, ev: torch.Tensor) -> Chart:
    b, n, _ = ev.shape
    N = grammar.n_nonterminals
    top = ev.amax(-1)
    tok = torch.exp(ev - top.unsqueeze(-1))
    beta = torch.zeros((b, n, n, N), dtype=torch.float64)
    log_scale = torch.full((b, n, n), -torch.inf, dtype=torch.float64)
    beta[:, :, 0], log_scale[:, :, 0] = _normalise(tok @ grammar.lexical.T, top)
    for w in range(2, n + 1):
        P = n - w + 1
        ri, rw = _split_index(n, w)
        logs = log_scale[:, :P, : w - 1] + log_scale[:, ri, rw]  # (b, P, w-1)
        ref = logs.amax(-1)
        scale = _relative(logs, ref)
        left = (beta[:, :P, : w - 1] * scale.unsqueeze(-1)).reshape(b * P, w - 1, N)
        right = beta[:, ri, rw].reshape(b * P, w - 1, N)
        M = torch.bmm(left.transpose(1, 2), right).reshape(b * P, N * N)
        q = (M[:, rules.pairs] @ rules.weights).reshape(b, P, N)
        beta[:, :P, w - 1], log_scale[:, :P, w - 1] = _normalise(q, torch.where(
            torch.isfinite(ref), ref, 0.0))
    return Chart(beta, log_scale, tok)


def _root_weights(grammar: Grammar, chart: Chart) -> torch.Tensor:
    n = chart.inside.shape[1]
    return chart.inside[:, 0, n - 1] * grammar.root


def _outside(grammar: Grammar, rules: _Rules, chart: Chart) -> torch.Tensor:
    beta, log_scale = chart.inside, chart.log_scale
    b, n, _, N = beta.shape
    out = torch.zeros_like(beta)
    root_w = _root_weights(grammar, chart)
    out[:, 0, n - 1] = grammar.root / root_w.sum(-1, keepdim=True)
    for w in range(n, 1, -1):
        P = n - w + 1
        ri, rw = _split_index(n, w)
        factor = _relative(log_scale[:, :P, : w - 1] + log_scale[:, ri, rw],
                           log_scale[:, :P, w - 1]).reshape(b * P, w - 1, 1)
        G = torch.zeros((b * P, N * N), dtype=torch.float64)
        G[:, rules.pairs] = out[:, :P, w - 1].reshape(b * P, N) @ rules.weights.T
        G = G.reshape(b * P, N, N)
        left = beta[:, :P, : w - 1].reshape(b * P, w - 1, N)
        right = beta[:, ri, rw].reshape(b * P, w - 1, N)
        out[:, :P, : w - 1] += (torch.bmm(right, G.transpose(1, 2)) * factor).reshape(b, P, w - 1, N)
        out[:, ri, rw] += (torch.bmm(left, G) * factor).reshape(b, P, w - 1, N)
    return out


def _chunks(b: int, n: int, N: int):
    per = max(1, BATCH_BYTES // max(1, 16 * n * n * N))
    return [(lo, min(b, lo + per)) for lo in range(0, b, per)]


def _resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return "numba" if backend == "auto" else backend


def posterior(grammar: Grammar, log_evidence, spans: bool = True,
              backend: str = "auto") -> Posterior:
    """Exact posterior of noisy sentences (:class:`Posterior`) by inside-outside.

    ``log_evidence`` (b, n, V): per-token log-likelihoods. ``spans=False`` skips the (b, n, n, N)
    labelled-span marginals (the tokens, root and likelihood need the same passes). ``backend``:
    ``"numba"`` (``"auto"``; loops over the rules, parallel over sentences) or ``"torch"`` (the
    dense reference: one batched matrix product over all ``N**2`` child pairs per width; the same
    numbers). Raises ValueError for a sentence with probability 0 (no parse compatible with its
    evidence)."""
    grammar = _check_grammar(grammar)
    ev = check_evidence(log_evidence, grammar.n_terminals)
    if _resolve_backend(backend) == "numba":
        tokens, root, loglik, span_out, status = _kernels.nb_posterior(
            ev.numpy(), *_kernel_args(grammar, 1), bool(spans))
        _raise_impossible(status)
        return Posterior(torch.from_numpy(tokens), torch.from_numpy(root),
                         torch.from_numpy(loglik), torch.from_numpy(span_out) if spans else None)
    rules = _rules(grammar)
    b, n, _ = ev.shape
    N = grammar.n_nonterminals
    tokens = torch.empty_like(ev)
    root = torch.empty((b, N), dtype=torch.float64)
    loglik = torch.empty(b, dtype=torch.float64)
    span_out = torch.empty((b, n, n, N), dtype=torch.float64) if spans else None
    for lo, hi in _chunks(b, n, N):
        chart = _inside(grammar, rules, ev[lo:hi])
        root_w = _root_weights(grammar, chart)
        z = root_w.sum(-1)
        _raise_impossible((z <= 0).numpy(), lo)
        root[lo:hi] = root_w / z.unsqueeze(-1)
        loglik[lo:hi] = chart.log_scale[:, 0, n - 1] + torch.log(z)
        out = _outside(grammar, rules, chart)
        t = (out[:, :, 0] @ grammar.lexical) * chart.token_weights
        tokens[lo:hi] = t / t.sum(-1, keepdim=True)
        if spans:
            span_out[lo:hi] = out * chart.inside
    return Posterior(tokens, root, loglik, span_out)


class Parse(NamedTuple):
    """Clean sentences parsed by a grammar: ``grammatical`` (b,) bool, whether some parse tree
    derives the sentence from the root; ``root`` (b, N) float64, the root symbol's posterior
    given the sentence (NaN rows where ungrammatical); ``log_likelihood`` (b,) (-inf where
    ungrammatical)."""

    grammatical: torch.Tensor
    root: torch.Tensor
    log_likelihood: torch.Tensor


def parse(grammar: Grammar, tokens) -> Parse:
    """Parse clean sentences ``tokens`` (b, n) of the grammar's terminals by the inside pass
    (:class:`Parse`): unlike :func:`posterior`, a sentence without a parse is not an error but an
    ungrammatical row. Tokens outside ``0 .. V-1`` are refused."""
    grammar = _check_grammar(grammar)
    tokens = torch.as_tensor(tokens).long()
    V = grammar.n_terminals
    if tokens.dim() != 2 or tokens.shape[1] < 1:
        raise ValueError(f"tokens must have shape (b, n >= 1), got {tuple(tokens.shape)}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= V):
        raise ValueError(f"tokens must be terminal ids in [0, {V}), got values in "
                         f"[{int(tokens.min())}, {int(tokens.max())}]")
    ev = torch.full((*tokens.shape, V), -math.inf, dtype=torch.float64)
    ev.scatter_(-1, tokens.unsqueeze(-1), 0.0)
    _, root, loglik, _, status = _kernels.nb_posterior(ev.numpy(), *_kernel_args(grammar, 1), False)
    ok = torch.from_numpy(status == 0)
    root, loglik = torch.from_numpy(root), torch.from_numpy(loglik)
    root[~ok] = math.nan
    loglik[~ok] = -math.inf
    return Parse(ok, root, loglik)


# ----------------------------------------------------------------------------- sampling
def _uniforms(shape: tuple[int, ...], seed: int, stream: str) -> np.ndarray:
    """The uniforms a sampler consumes, 2n per tree (the root, n - 1 splits, n tokens)."""
    gen = torch_generator(derive_seed(int(seed), stream))
    return torch.rand(shape, generator=gen, dtype=torch.float64).numpy()


def sample_posterior(grammar: Grammar, log_evidence, seed: int,
                     n_samples: int | None = None) -> Trees:
    """Exact joint posterior samples of (tree, tokens) of noisy sentences, deterministic in
    ``seed``. ``n_samples=None``: one per sentence, :class:`Trees` with ``tokens`` (b, n) and
    ``spans`` (b, 2n-1, 3); ``n_samples=k``: k per sentence from one inside pass, shapes
    (b, k, n) and (b, k, 2n-1, 3). Raises ValueError for a sentence of probability 0."""
    grammar = _check_grammar(grammar)
    ev = check_evidence(log_evidence, grammar.n_terminals)
    check_count("seed", seed, 0)
    reps = 1 if n_samples is None else check_count("n_samples", n_samples, 1)
    b, n, _ = ev.shape
    u = _uniforms((b, reps, 2 * n), seed, "grammar.sample_posterior")
    tokens, spans, status = _kernels.nb_sample(ev.numpy(), *_kernel_args(grammar, 0, 1), u)
    _raise_impossible(status)
    tokens, spans = torch.from_numpy(tokens), torch.from_numpy(spans)
    if n_samples is None:
        return Trees(tokens[:, 0], spans[:, 0])
    return Trees(tokens, spans)


# ----------------------------------------------------------------------------- generation
def _length_chart(grammar: Grammar, n: int):
    return _kernels.nb_length_chart(n, grammar.lexical.numpy(), *_csr(grammar, 0))


def length_probability(grammar: Grammar, n: int) -> float:
    """Log of the probability that the grammar's sentence has exactly n tokens (-inf if none)."""
    grammar = _check_grammar(grammar)
    n = check_count("n", n, 1)
    beta, logs, _ = _length_chart(grammar, n)
    z = float(grammar.root.numpy() @ beta[0, n - 1])
    return float(logs[0, n - 1]) + math.log(z) if z > 0 else -math.inf


def sample_sentences(grammar: Grammar, n: int, count: int, seed: int) -> Trees:
    """``count`` sentences of exactly ``n`` tokens with their parse trees (:class:`Trees`), drawn
    exactly from the grammar conditioned on the length (through the inside probabilities of
    lengths), seeded. Raises ValueError when the grammar derives no sentence of n tokens."""
    grammar = _check_grammar(grammar)
    n = check_count("n", n, 1)
    count = check_count("count", count, 0)
    check_count("seed", seed, 0)
    if length_probability(grammar, n) == -math.inf:
        raise ValueError(f"the grammar derives no sentence of n={n} tokens from its root")
    beta, logs, tok = _length_chart(grammar, n)
    u = _uniforms((count, 2 * n), seed, "grammar.sentences")
    tokens, spans, _ = _kernels.nb_sample_chart(beta, logs, tok, *_kernel_args(grammar, 0), u)
    return Trees(torch.from_numpy(tokens), torch.from_numpy(spans))


def span_chart(trees_spans: torch.Tensor, n: int) -> torch.Tensor:
    """Labelled-span chart of trees: LongTensor (b, n, n), ``[b, start, width-1]`` the symbol of
    that constituent or -1 (from :attr:`Trees.spans` (b, 2n-1, 3))."""
    spans = torch.as_tensor(trees_spans).long()
    if spans.dim() != 3 or spans.shape[1:] != (2 * n - 1, 3):
        raise ValueError(f"trees_spans must have shape (b, {2 * n - 1}, 3), got {tuple(spans.shape)}")
    b = spans.shape[0]
    out = torch.full((b, n, n), -1, dtype=torch.long)
    rows = torch.arange(b).unsqueeze(1).expand(-1, 2 * n - 1)
    out[rows, spans[..., 0], spans[..., 1] - 1] = spans[..., 2]
    return out


def compile_kernels() -> None:
    """Compile the numba kernels of this module (or load them from numba's on-disk cache) on a
    tiny grammar. The first call in a fresh checkout compiles for about a minute; parallel
    workflow jobs should find them compiled (call this once after installing)."""
    from .pcfg import make_grammar

    g = make_grammar([(0, 0, 0)], [0.5], [[0.25, 0.25]], [1.0])
    ev = torch.zeros((1, 3, 2), dtype=torch.float64)
    posterior(g, ev)
    sample_posterior(g, ev, seed=0)
    sample_sentences(g, 3, 2, seed=0)
