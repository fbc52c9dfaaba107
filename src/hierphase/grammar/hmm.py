"""The control without hierarchy: a hidden Markov model (HMM) of the grammar's own sentences, with
its exact forward-backward denoiser and posterior sampler.

An :class:`HMM` has ``K`` hidden states: ``initial`` (K,), ``transition`` (K, K) (row: from),
``emission`` (K, V). Two fits to sentences (b, n):

* :func:`fit_markov_chain`: the first-order Markov chain of the tokens by counts (``K = V``,
  identity emissions; additive smoothing), the bigram model of the text;
* :func:`fit_hmm`: Baum-Welch (EM) with ``K`` states from a seeded random start; the likelihood
  of the sentences never decreases from one iteration to the next.

Given per-token log-evidence (b, n, V) as for the grammar, :func:`hmm_posterior` returns the
token marginals and the log-likelihood by the scaled forward-backward recursion (each step's
vector normalised, the logs of the normalisers summed), and :func:`hmm_sample_posterior` draws
exact joint posterior samples of (states, tokens) by forward filtering, backward sampling.
Cost ``O(n K**2)`` per sentence, batched over sentences in torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..bp import _inverse_cdf
from ..seeding import derive_seed, torch_generator
from ..shapes import AxisSize
from ._checks import check_count, check_evidence

__all__ = ["HMM", "make_hmm", "hmm_to_dict", "hmm_from_dict", "fit_markov_chain", "fit_hmm", "hmm_posterior",
           "hmm_sample_posterior", "HMMPosterior", "HMMSamples"]


@dataclass(frozen=True, eq=False)
class HMM:
    """A hidden Markov model (float64 tensors); build it with :func:`make_hmm`."""

    initial: torch.Tensor
    transition: torch.Tensor
    emission: torch.Tensor

    n_states = AxisSize("initial", 0)
    n_terminals = AxisSize("emission", 1)

    def __repr__(self) -> str:
        return f"HMM(K={self.n_states}, V={self.n_terminals})"


def make_hmm(initial, transition, emission) -> HMM:
    """A checked :class:`HMM`: shapes (K,), (K, K), (K, V); every row a distribution (1e-9)."""
    initial = torch.as_tensor(initial, dtype=torch.float64).clone()
    transition = torch.as_tensor(transition, dtype=torch.float64).clone()
    emission = torch.as_tensor(emission, dtype=torch.float64).clone()
    if initial.dim() != 1 or initial.shape[0] < 1:
        raise ValueError(f"initial must have shape (K,), got {tuple(initial.shape)}")
    K = initial.shape[0]
    if tuple(transition.shape) != (K, K):
        raise ValueError(f"transition must have shape ({K}, {K}), got {tuple(transition.shape)}")
    if emission.dim() != 2 or emission.shape[0] != K or emission.shape[1] < 1:
        raise ValueError(f"emission must have shape ({K}, V), got {tuple(emission.shape)}")
    for name, p in (("initial", initial), ("transition", transition), ("emission", emission)):
        if not bool(((p >= 0) & (p <= 1)).all()):
            raise ValueError(f"{name}: probabilities must lie in [0, 1] (no NaN)")
        if not bool(((p.sum(-1) - 1).abs() <= 1e-9).all()):
            raise ValueError(f"{name}: every row must sum to 1")
    return HMM(initial, transition, emission)


def hmm_to_dict(hmm: HMM) -> dict:
    """Plain dict of tensors for :func:`hierphase.io.save_tensors`."""
    return {"initial": hmm.initial.clone(), "transition": hmm.transition.clone(),
            "emission": hmm.emission.clone()}


def hmm_from_dict(data: dict) -> HMM:
    """Inverse of :func:`hmm_to_dict`, checked by :func:`make_hmm`."""
    missing = {"initial", "transition", "emission"} - set(data)
    if missing:
        raise ValueError(f"HMM dict lacks {sorted(missing)}")
    return make_hmm(data["initial"], data["transition"], data["emission"])


def _tokens(tokens, V: int | None = None) -> torch.Tensor:
    x = torch.as_tensor(tokens)
    if x.dim() != 2 or x.shape[1] < 1 or x.is_floating_point():
        raise ValueError(f"tokens must be an integer array (b, n >= 1), got shape {tuple(x.shape)}")
    x = x.long()
    if x.numel() and (x.min() < 0 or (V is not None and x.max() >= V)):
        raise ValueError(f"tokens must lie in [0, {V})")
    return x


def fit_markov_chain(tokens, n_terminals: int, smoothing: float = 1e-3) -> HMM:
    """The first-order Markov chain of ``tokens`` (b, n) by counts, as an HMM with one state per
    terminal: ``initial ∝ count(x_0 = a) + smoothing``, ``transition[a, c] ∝ count(a c) +
    smoothing``, identity emissions."""
    check_count("n_terminals", n_terminals, 1)
    x = _tokens(tokens, n_terminals)
    smoothing = float(smoothing)
    if not smoothing > 0:
        raise ValueError(f"smoothing must be > 0, got {smoothing}")
    V = n_terminals
    first = torch.bincount(x[:, 0], minlength=V).double() + smoothing
    pairs = torch.bincount((x[:, :-1] * V + x[:, 1:]).reshape(-1), minlength=V * V)
    trans = pairs.double().reshape(V, V) + smoothing
    return make_hmm(first / first.sum(), trans / trans.sum(1, keepdim=True),
                    torch.eye(V, dtype=torch.float64))


class _Pass(NamedTuple):
    alpha: torch.Tensor  # (b, n, K) filtered, each step normalised
    log_norm: torch.Tensor  # (b, n) log normalisers
    emit: torch.Tensor  # (b, n, K) evidence-weighted emission per state (scaled per token)
    emit_log: torch.Tensor  # (b, n) the per-token scale of emit


def _forward(hmm: HMM, ev: torch.Tensor) -> _Pass:
    top = ev.amax(-1)
    tok = torch.exp(ev - top.unsqueeze(-1))
    emit = tok @ hmm.emission.T  # (b, n, K)
    b, n, K = emit.shape
    alpha = torch.empty((b, n, K), dtype=torch.float64)
    log_norm = torch.empty((b, n), dtype=torch.float64)
    a = hmm.initial * emit[:, 0]
    for t in range(n):
        if t:
            a = (alpha[:, t - 1] @ hmm.transition) * emit[:, t]
        z = a.sum(-1)
        if bool((z <= 0).any()):
            i = int((z <= 0).nonzero()[0])
            raise ValueError(f"log_evidence: sentence {i} has probability 0 under the HMM")
        alpha[:, t] = a / z.unsqueeze(-1)
        log_norm[:, t] = torch.log(z)
    return _Pass(alpha, log_norm, emit, top)


class HMMPosterior(NamedTuple):
    """``tokens`` (b, n, V) marginals, ``states`` (b, n, K) marginals, ``log_likelihood`` (b,)."""
    tokens: torch.Tensor
    states: torch.Tensor
    log_likelihood: torch.Tensor


def hmm_posterior(hmm: HMM, log_evidence) -> HMMPosterior:
    """Exact posterior marginals of noisy sentences under the HMM (scaled forward-backward)."""
    if not isinstance(hmm, HMM):
        raise TypeError(f"hmm must be an HMM, got {type(hmm).__name__}")
    ev = check_evidence(log_evidence, hmm.n_terminals)
    f = _forward(hmm, ev)
    b, n, K = f.alpha.shape
    beta = torch.ones((b, K), dtype=torch.float64)
    states = torch.empty_like(f.alpha)
    states[:, n - 1] = f.alpha[:, n - 1]
    for t in range(n - 2, -1, -1):
        beta = (hmm.transition @ (f.emit[:, t + 1] * beta).unsqueeze(-1)).squeeze(-1)
        beta = beta / torch.exp(f.log_norm[:, t + 1]).unsqueeze(-1)
        g = f.alpha[:, t] * beta
        states[:, t] = g / g.sum(-1, keepdim=True)
    # p(x_t = a | e) ∝ sum_k p(state_t = k | e without x_t's own token) emission[k, a] e_t(a):
    # the state posterior divided by its own emission weight, times emission * evidence
    own = torch.where(f.emit > 0, states / f.emit.clamp_min(1e-300), 0.0)
    tok = torch.exp(ev - f.emit_log.unsqueeze(-1))
    tokens = (own @ hmm.emission) * tok
    tokens = tokens / tokens.sum(-1, keepdim=True)
    loglik = f.log_norm.sum(-1) + f.emit_log.sum(-1)
    return HMMPosterior(tokens, states, loglik)


class HMMSamples(NamedTuple):
    """``states`` and ``tokens``, LongTensors (b, n) (or (b, k, n) with ``n_samples=k``)."""
    states: torch.Tensor
    tokens: torch.Tensor


def hmm_sample_posterior(hmm: HMM, log_evidence, seed: int,
                         n_samples: int | None = None) -> HMMSamples:
    """Exact joint posterior samples of (states, tokens) by forward filtering, backward
    sampling; deterministic in ``seed``. ``n_samples=k`` draws k per sentence."""
    if not isinstance(hmm, HMM):
        raise TypeError(f"hmm must be an HMM, got {type(hmm).__name__}")
    ev = check_evidence(log_evidence, hmm.n_terminals)
    check_count("seed", seed, 0)
    reps = 1 if n_samples is None else check_count("n_samples", n_samples, 1)
    f = _forward(hmm, ev)
    b, n, K = f.alpha.shape
    gen = torch_generator(derive_seed(int(seed), "grammar.hmm_sample_posterior"))
    u = torch.rand((b, reps, 2 * n), generator=gen, dtype=torch.float64)
    alpha = f.alpha.unsqueeze(1).expand(b, reps, n, K)
    states = torch.empty((b, reps, n), dtype=torch.long)
    states[:, :, n - 1] = _inverse_cdf(alpha[:, :, n - 1], u[:, :, n - 1])
    for t in range(n - 2, -1, -1):
        w = alpha[:, :, t] * hmm.transition[:, states[:, :, t + 1]].permute(1, 2, 0)
        states[:, :, t] = _inverse_cdf(w, u[:, :, t])
    tok = torch.exp(ev - f.emit_log.unsqueeze(-1)).unsqueeze(1)  # (b, 1, n, V)
    tokens = _inverse_cdf(hmm.emission[states] * tok, u[:, :, n:])
    if n_samples is None:
        return HMMSamples(states[:, 0], tokens[:, 0])
    return HMMSamples(states, tokens)


def fit_hmm(tokens, n_states: int, n_terminals: int, seed: int, n_iter: int = 50,
            tol: float = 1e-8) -> tuple[HMM, list[float]]:
    """Baum-Welch on sentences ``tokens`` (b, n) from a seeded random start (Dirichlet(1) rows).

    Returns the HMM and the per-iteration mean log-likelihood per sentence (before each update;
    non-decreasing, as EM guarantees); stops after ``n_iter`` updates or when the gain is below
    ``tol``."""
    for name, value, lo in (("n_states", n_states, 1), ("n_terminals", n_terminals, 1),
                            ("seed", seed, 0), ("n_iter", n_iter, 1)):
        check_count(name, value, lo)
    x = _tokens(tokens, n_terminals)
    K, V = n_states, n_terminals
    gen = torch_generator(derive_seed(int(seed), "grammar.fit_hmm"))

    def dirichlet(*shape):
        g = -torch.log(torch.rand(shape, generator=gen, dtype=torch.float64))
        return g / g.sum(-1, keepdim=True)

    hmm = make_hmm(dirichlet(K), dirichlet(K, K), dirichlet(K, V))
    ev = torch.where(torch.nn.functional.one_hot(x, V).bool(), 0.0, -torch.inf).double()
    history: list[float] = []
    for _ in range(n_iter):
        f = _forward(hmm, ev)
        history.append(float((f.log_norm.sum(-1) + f.emit_log.sum(-1)).mean()))
        if len(history) > 1 and history[-1] - history[-2] < tol:
            break
        b, n, _ = f.alpha.shape
        beta = torch.ones((b, n, K), dtype=torch.float64)
        for t in range(n - 2, -1, -1):
            nxt = (hmm.transition @ (f.emit[:, t + 1] * beta[:, t + 1]).unsqueeze(-1)).squeeze(-1)
            beta[:, t] = nxt / torch.exp(f.log_norm[:, t + 1]).unsqueeze(-1)
        gamma = f.alpha * beta
        gamma = gamma / gamma.sum(-1, keepdim=True)
        # xi[t, j, k] ∝ alpha_t(j) T[j, k] emit_{t+1}(k) beta_{t+1}(k)
        xi = f.alpha[:, :-1].unsqueeze(-1) * hmm.transition * \
            (f.emit[:, 1:] * beta[:, 1:]).unsqueeze(-2)
        xi = xi / xi.sum((-1, -2), keepdim=True)
        emis = torch.einsum("bnk,bnv->kv", gamma, torch.nn.functional.one_hot(x, V).double())
        hmm = make_hmm(_rows(gamma[:, 0].sum(0), hmm.initial), _rows(xi.sum((0, 1)), hmm.transition),
                       _rows(emis, hmm.emission))
    return hmm, history


def _rows(counts: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Expected counts normalised per row; a row without counts (a state never visited) keeps
    its old values."""
    total = counts.sum(-1, keepdim=True)
    return torch.where(total > 0, counts / total.clamp_min(1e-300), old)
