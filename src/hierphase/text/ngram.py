"""An n-gram Markov model of token sequences, denoised exactly by forward-backward.

The model of order ``n`` (``n >= 1``) over ``V`` tokens, additive (Lidstone) smoothing ``alpha``::

    p(x_1 .. x_L) = p0(x_1 .. x_{n-1}) * prod_{i >= n} P(x_i | x_{i-n+1} .. x_{i-1}),
    P(w | c) = (count(c, w) + alpha) / (count(c) + alpha V),
    p0(c)    = (count of the (n-1)-gram c + alpha) / (number of (n-1)-grams + alpha V**(n-1)),

the counts taken over every window of the training sequences (order 1: tokens independent with
the smoothed unigram frequencies). It is a Markov chain on the states ``s_i = (x_{i-n+2} .. x_i)``
(``V**(n-1)`` of them), so a masked sequence (each token either known or hidden) has an exact
posterior computed by forward filtering (``alpha_i(s) = p(s_i = s, visible tokens up to i)``,
normalised at each step): its token marginals with the backward pass, and exact joint samples by
backward sampling (draw the last state from ``alpha_L``, then each earlier state from
``alpha_i(s) P(s -> s_{i+1})``). Cost ``O(L V**n)`` per sequence for a hidden token and
``O(L V**(n-1))`` for a visible one; the model refuses a state space of more than
:data:`MAX_TABLE` transition entries.

:meth:`NgramModel.denoiser` has the denoiser signature of :mod:`hierphase.mdlm.diffusion`, so the
control runs through the same forward-backward protocol as a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from hierphase.seeding import derive_seed

__all__ = ["NgramModel", "fit_ngram", "MAX_TABLE"]

#: Largest ``V**n`` (transition table entries) the model accepts.
MAX_TABLE = 1 << 25


def _sequences(seqs, vocab_size: int) -> list[np.ndarray]:
    if isinstance(seqs, (np.ndarray, torch.Tensor)) and np.asarray(seqs).ndim == 2:
        seqs = list(np.asarray(seqs))
    out = []
    for k, s in enumerate(seqs):
        arr = np.asarray(s)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"sequences[{k}] must be a 1-D integer array, got {arr.dtype} {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
            raise ValueError(f"sequences[{k}] holds ids outside [0, vocab_size={vocab_size})")
        out.append(arr.astype(np.int64))
    if not out:
        raise ValueError("sequences must hold at least one sequence")
    return out


def _windows(seq: np.ndarray, width: int, vocab_size: int) -> np.ndarray:
    """Codes (base vocab_size) of every window of ``width`` tokens."""
    if len(seq) < width:
        return np.zeros(0, dtype=np.int64)
    code = np.zeros(len(seq) - width + 1, dtype=np.int64)
    for k in range(width):
        code = code * vocab_size + seq[k:len(seq) - width + 1 + k]
    return code


@dataclass(frozen=True, eq=False)
class NgramModel:
    """A fitted n-gram model: ``initial`` ``(V**(n-1),)`` and ``transition`` ``(V**(n-1), V)``
    (float64; for order 1 ``initial`` is ``(1,)`` = [1] and ``transition`` ``(1, V)``)."""

    order: int
    vocab_size: int
    alpha: float
    initial: np.ndarray
    transition: np.ndarray

    @property
    def n_states(self) -> int:
        return self.vocab_size ** (self.order - 1)

    def log_prob(self, tokens) -> np.ndarray:
        """``log p(x)`` of each row of ``tokens`` (``(b, L)``, ``L >= order - 1``)."""
        x = np.atleast_2d(np.asarray(tokens, dtype=np.int64))
        n, V = self.order, self.vocab_size
        if x.shape[1] < n - 1:
            raise ValueError(f"tokens must have at least order - 1 = {n - 1} columns")
        first = np.zeros(x.shape[0], dtype=np.int64)
        for k in range(n - 1):
            first = first * V + x[:, k]
        out = np.log(self.initial[first])
        for i in range(n - 1, x.shape[1]):
            ctx = np.zeros(x.shape[0], dtype=np.int64)
            for k in range(i - n + 1, i):
                ctx = ctx * V + x[:, k]
            out = out + np.log(self.transition[ctx, x[:, i]])
        return out

    # ------------------------------------------------------------------ exact posterior
    def _check(self, tokens, mask) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(tokens.cpu() if isinstance(tokens, torch.Tensor) else tokens)
        m = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask)
        if x.ndim != 2 or m.shape != x.shape or m.dtype != np.bool_:
            raise ValueError(f"tokens must be (b, L) and mask a bool array of the same shape, "
                             f"got {x.shape} and {m.dtype} {m.shape}")
        if x.shape[1] < max(1, self.order - 1):
            raise ValueError(f"sequences must have at least {max(1, self.order - 1)} tokens, got {x.shape[1]}")
        if ((x < 0) | (x >= self.vocab_size))[~m].any():
            raise ValueError(f"visible tokens must be ids in [0, vocab_size={self.vocab_size})")
        return x.astype(np.int64), m

    def _evidence(self, x: np.ndarray, m: np.ndarray, i: int) -> np.ndarray:
        """(b, V) 0/1 evidence of position i."""
        ev = np.zeros((x.shape[0], self.vocab_size))
        ev[m[:, i]] = 1.0
        rows = np.flatnonzero(~m[:, i])
        ev[rows, x[rows, i]] = 1.0
        return ev

    def _first_state_evidence(self, x, m) -> np.ndarray:
        """(b, S) evidence of the first state (the first n - 1 tokens)."""
        b, V = x.shape[0], self.vocab_size
        ev = np.ones((b, 1))
        for k in range(self.order - 1):
            ev = (ev[:, :, None] * self._evidence(x, m, k)[:, None, :]).reshape(b, -1)
        return ev

    def _forward(self, x: np.ndarray, m: np.ndarray) -> list[np.ndarray]:
        """Normalised filters alpha_i, i = first state .. L-1, each (b, S)."""
        b, L = x.shape
        n, V, S = self.order, self.vocab_size, self.n_states
        start = max(n - 2, 0)
        alpha = self.initial[None] * self._first_state_evidence(x, m) if n > 1 else np.ones((b, 1))
        alphas = []
        if n == 1:  # one dummy state before the first token
            start = -1
        else:
            alpha = self._normalise(alpha)
            alphas.append(alpha)
        table = self.transition.reshape(V if n > 1 else 1, S // V if n > 1 else 1, V)
        for i in range(start + 1, L):
            prev = alpha.reshape(b, table.shape[0], table.shape[1])
            ev = self._evidence(x, m, i)
            new = np.zeros((b, table.shape[1], V))
            hidden = np.flatnonzero(m[:, i])
            if hidden.size:
                # per suffix s a matrix product (BLAS): new[b, s, :] = prev[b, :, s] @ table[:, s, :]
                new[hidden] = np.matmul(prev[hidden].transpose(2, 0, 1), table.transpose(1, 0, 2)).transpose(1, 0, 2)
            shown = np.flatnonzero(~m[:, i])
            if shown.size:
                w = x[shown, i]
                new[shown, :, w] = np.einsum("bas,bas->bs", prev[shown], table[:, :, w].transpose(2, 0, 1))
            new = new * ev[:, None, :]
            alpha = self._normalise(new.reshape(b, -1) if n > 1 else new.reshape(b, V))
            alphas.append(alpha)
        return alphas

    @staticmethod
    def _normalise(a: np.ndarray) -> np.ndarray:
        z = a.sum(axis=1, keepdims=True)
        if (z <= 0).any():
            raise ValueError("a sequence has probability 0 under the model (alpha = 0 and an unseen n-gram)")
        return a / z

    def marginals(self, tokens, mask) -> np.ndarray:
        """Posterior marginal of every token, ``(b, L, V)`` float64, given the visible tokens
        (``mask`` true where hidden)."""
        x, m = self._check(tokens, mask)
        b, L = x.shape
        n, V, S = self.order, self.vocab_size, self.n_states
        if n == 1:
            post = np.broadcast_to(self.transition[0], (b, L, V)) * np.stack(
                [self._evidence(x, m, i) for i in range(L)], axis=1)
            return post / post.sum(-1, keepdims=True)
        alphas = self._forward(x, m)
        table = self.transition.reshape(V, S // V, V)
        beta = np.ones((b, S))
        out = np.zeros((b, L, V))
        for j in range(len(alphas) - 1, -1, -1):
            i = j + n - 2  # position of the state's last token
            post = alphas[j] * beta
            post /= post.sum(axis=1, keepdims=True)
            if j == 0:
                for k in range(n - 1):  # every token of the first state
                    shape = (b,) + (V,) * (n - 1)
                    axes = tuple(a for a in range(1, n) if a != k + 1)
                    out[:, k] = post.reshape(shape).sum(axis=axes)
            else:
                out[:, i] = post.reshape(b, S // V, V).sum(axis=1)
                # beta_{j-1}(a, suffix) = sum_w P(w | a, suffix) e_i(w) beta_j(suffix, w)
                nxt = (beta.reshape(b, S // V, V) * self._evidence(x, m, i)[:, None, :])
                beta = np.einsum("asw,bsw->bas", table, nxt).reshape(b, S)
                beta /= beta.max(axis=1, keepdims=True)
        return out

    def sample(self, tokens, mask, seed: int) -> np.ndarray:
        """Exact joint posterior samples (one per row) of the hidden tokens, ``(b, L)`` int64 (the
        visible tokens copied), by forward filtering and backward sampling; seeded."""
        x, m = self._check(tokens, mask)
        rng = np.random.default_rng(derive_seed(int(seed), "ngram.sample"))
        b, L = x.shape
        n, V, S = self.order, self.vocab_size, self.n_states
        out = x.copy()
        if n == 1:
            post = self.marginals(x, m)
            u = rng.random((b, L, 1))
            draw = (post.cumsum(-1) < u).sum(-1)
            return np.where(m, np.minimum(draw, V - 1), x)
        alphas = self._forward(x, m)
        table = self.transition.reshape(V, S // V, V)
        rows = np.arange(b)
        state = _draw(alphas[-1], rng)
        for j in range(len(alphas) - 1, 0, -1):
            out[:, j + n - 2] = state % V
            suffix, w = state // V, state % V  # s_j = (suffix, w); s_{j-1} = (a, suffix)
            weights = alphas[j - 1].reshape(b, V, S // V)[rows, :, suffix] * table[:, suffix, w].T
            a = _draw(weights / weights.sum(axis=1, keepdims=True), rng)
            state = a * (S // V) + suffix
        for k in range(n - 2, -1, -1):
            out[:, k] = state % V
            state //= V
        return np.where(m, out, x)

    def denoiser(self, chunk: int = 512):
        """The model as a denoiser ``(tokens, mask, level, seed) -> tokens`` (torch int64), in chunks
        of ``chunk`` rows (each chunk its own derived seed)."""

        def denoise(tokens, mask, level, seed):
            x, m = self._check(tokens, mask)
            parts = [self.sample(x[lo:lo + chunk], m[lo:lo + chunk], derive_seed(int(seed), "ngram", k))
                     for k, lo in enumerate(range(0, x.shape[0], chunk))]
            return torch.from_numpy(np.concatenate(parts) if parts else x.copy())
        return denoise


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``probs`` (rows sum to 1)."""
    u = rng.random((probs.shape[0], 1))
    return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def fit_ngram(sequences: Iterable, order: int, vocab_size: int, alpha: float = 0.1) -> NgramModel:
    """Fit an order-``order`` model on ``sequences`` (1-D integer arrays, or a 2-D array of rows),
    smoothing ``alpha`` (module docstring). Windows never cross from one sequence into the next."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be an int >= 1, got {order!r}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be an int >= 1, got {vocab_size!r}")
    if vocab_size ** order > MAX_TABLE:
        raise ValueError(f"order={order} with vocab_size={vocab_size} needs {vocab_size ** order} transition "
                         f"entries, more than {MAX_TABLE}: lower the order or the vocabulary")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha >= 0 or not np.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    seqs = _sequences(sequences, vocab_size)
    V, S = vocab_size, vocab_size ** (order - 1)
    counts = np.zeros(S * V)
    prefix = np.zeros(S)
    for s in seqs:
        counts += np.bincount(_windows(s, order, V), minlength=S * V)
        if order > 1:
            prefix += np.bincount(_windows(s, order - 1, V), minlength=S)
    counts = counts.reshape(S, V)
    with np.errstate(invalid="ignore", divide="ignore"):
        transition = (counts + alpha) / (counts.sum(axis=1, keepdims=True) + alpha * V)
        initial = (prefix + alpha) / (prefix.sum() + alpha * S) if order > 1 else np.ones(1)
    transition = np.nan_to_num(transition, nan=0.0)
    initial = np.nan_to_num(initial, nan=0.0)
    return NgramModel(order=order, vocab_size=V, alpha=float(alpha), initial=initial, transition=transition)
