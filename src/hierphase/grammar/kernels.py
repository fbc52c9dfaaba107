"""numba kernels of inside-outside and top-down sampling (the ``"numba"`` backend of
:mod:`hierphase.grammar.inside`, which holds the public API, the recursions in words and the
torch reference).

Per sentence, loops over spans, splits and the grammar's binary rules, in CSR form: grouped by
left child for inside-outside (``left_start``; a split skips the rules whose left child has inside
0 there, so the RHM grammar, whose chart is mostly 0, costs little) and by parent for sampling
(``rule_start``): at most ``n**3/6 * |rules|`` multiply-adds, not ``n**3/6 * N**2``. Charts are scaled per span exactly as
in the torch backend (``beta = inside * exp(log_scale)``, each span's row with maximum 1).
Sentences run in parallel (``prange``), each with its own charts.

Kernels compile on first call and are cached on disk beside this module (``cache=True``).
"""

from __future__ import annotations

import math

import numba as _nb
import numpy as _np

__all__ = ["nb_posterior", "nb_sample", "nb_sample_chart", "nb_length_chart"]


@_nb.njit(cache=True, nogil=True)
def _split_ref(logs, i, w):
    """max over splits k of log_scale(i, k) + log_scale(i + k, w - k) (-inf: no split)."""
    ref = -_np.inf
    for k in range(1, w):
        x = logs[i, k - 1] + logs[i + k, w - k - 1]
        if x > ref:
            ref = x
    return ref


@_nb.njit(cache=True, nogil=True)
def _split_weight(logs, i, w, k, ref):
    """exp(log_scale(i, k) + log_scale(i + k, w - k) - ref): the weight of split k of span (i, w)
    relative to ``ref`` (0 where a child is impossible)."""
    x = logs[i, k - 1] + logs[i + k, w - k - 1]
    return 0.0 if x == -_np.inf else math.exp(x - ref)


@_nb.njit(cache=True, nogil=True)
def _normalise_row(row, base):
    """Scale row to max 1; return its log-scale ``base + log max`` (-inf and zeros if all 0)."""
    top = 0.0
    for a in range(row.shape[0]):
        if row[a] > top:
            top = row[a]
    if top > 0.0:
        for a in range(row.shape[0]):
            row[a] /= top
        return base + math.log(top)
    return -_np.inf


@_nb.njit(cache=True, nogil=True)
def _inside_one(ev, lexical, left_start, by_left_parent, by_left_right, by_left_prob, beta, logs,
                tok):
    """Inside chart of one sentence: ev (n, V) log-evidence -> beta (n, n, N), logs (n, n),
    tok (n, V) = exp(ev - max). Rules grouped by left child (CSR ``left_start``): a split skips
    every rule whose left child's inside is 0 there."""
    n, V = ev.shape
    N = lexical.shape[0]
    for i in range(n):
        top = -_np.inf
        for a in range(V):
            if ev[i, a] > top:
                top = ev[i, a]
        for a in range(V):
            tok[i, a] = math.exp(ev[i, a] - top)
        for A in range(N):
            acc = 0.0
            for a in range(V):
                acc += lexical[A, a] * tok[i, a]
            beta[i, 0, A] = acc
        logs[i, 0] = _normalise_row(beta[i, 0], top)
    for w in range(2, n + 1):
        for i in range(n - w + 1):
            row = beta[i, w - 1]
            row[:] = 0.0
            ref = _split_ref(logs, i, w)
            if ref == -_np.inf:
                logs[i, w - 1] = -_np.inf
                continue
            for k in range(1, w):
                f = _split_weight(logs, i, w, k, ref)
                if f == 0.0:
                    continue
                left = beta[i, k - 1]
                right = beta[i + k, w - k - 1]
                for B in range(N):
                    c = left[B] * f
                    if c == 0.0:
                        continue
                    for r in range(left_start[B], left_start[B + 1]):
                        row[by_left_parent[r]] += c * by_left_prob[r] * right[by_left_right[r]]
            logs[i, w - 1] = _normalise_row(row, ref)


@_nb.njit(cache=True, nogil=True)
def _outside_one(root, left_start, by_left_parent, by_left_right, by_left_prob, beta, logs, out):
    """Relative outside chart (out * beta = span posteriors); returns the root weight sum."""
    n, _, N = beta.shape
    z = 0.0
    for A in range(N):
        z += root[A] * beta[0, n - 1, A]
    out[:] = 0.0
    if z <= 0.0:
        return z
    for A in range(N):
        out[0, n - 1, A] = root[A] / z
    for w in range(n, 1, -1):
        for i in range(n - w + 1):
            lp = logs[i, w - 1]
            if lp == -_np.inf:
                continue
            parent = out[i, w - 1]
            for k in range(1, w):
                f = _split_weight(logs, i, w, k, lp)
                if f == 0.0:
                    continue
                left = beta[i, k - 1]
                right = beta[i + k, w - k - 1]
                out_left = out[i, k - 1]
                out_right = out[i + k, w - k - 1]
                for B in range(N):
                    lb = left[B]
                    if lb == 0.0:  # no tree of positive weight puts B there
                        continue
                    acc = 0.0
                    for r in range(left_start[B], left_start[B + 1]):
                        q = parent[by_left_parent[r]] * f * by_left_prob[r]
                        if q == 0.0:
                            continue
                        C = by_left_right[r]
                        acc += q * right[C]
                        out_right[C] += q * lb
                    out_left[B] += acc
    return z


@_nb.njit(cache=True, parallel=True)
def nb_posterior(ev, lexical, root, left_start, by_left_parent, by_left_right, by_left_prob,
                 want_spans):
    """Posterior of b sentences ev (b, n, V): tokens (b, n, V), root (b, N), log-likelihood (b,),
    spans (b, n, n, N) (empty (0, 0, 0, 0) unless want_spans), status (b,) (1: probability 0)."""
    b, n, V = ev.shape
    N = lexical.shape[0]
    tokens = _np.zeros((b, n, V))
    roots = _np.zeros((b, N))
    loglik = _np.zeros(b)
    status = _np.zeros(b, dtype=_np.int64)
    spans = _np.zeros((b, n, n, N)) if want_spans else _np.zeros((0, 0, 0, 0))
    for s in _nb.prange(b):
        beta = _np.empty((n, n, N))
        logs = _np.empty((n, n))
        tok = _np.empty((n, V))
        out = _np.empty((n, n, N))
        _inside_one(ev[s], lexical, left_start, by_left_parent, by_left_right, by_left_prob, beta,
                    logs, tok)
        z = _outside_one(root, left_start, by_left_parent, by_left_right, by_left_prob, beta, logs,
                         out)
        if z <= 0.0:
            status[s] = 1
            continue
        loglik[s] = logs[0, n - 1] + math.log(z)
        for A in range(N):
            roots[s, A] = root[A] * beta[0, n - 1, A] / z
        for i in range(n):
            tot = 0.0
            for a in range(V):
                acc = 0.0
                for A in range(N):
                    acc += out[i, 0, A] * lexical[A, a]
                tokens[s, i, a] = acc * tok[i, a]
                tot += tokens[s, i, a]
            for a in range(V):
                tokens[s, i, a] /= tot
        if want_spans:
            for i in range(n):
                for w in range(n - i):
                    for A in range(N):
                        spans[s, i, w, A] = out[i, w, A] * beta[i, w, A]
    return tokens, roots, loglik, spans, status


@_nb.njit(cache=True, nogil=True)
def _sample_one(beta, logs, tok, lexical, root, rule_start, rule_left, rule_right, rule_prob,
                u, tokens, spans, stack):
    """One tree drawn top-down from an inside chart with the uniforms u (2n,); spans (2n-1, 3)
    in preorder, tokens (n,). Returns False if the chart gives the sentence probability 0."""
    n, _, N = beta.shape
    V = tok.shape[1]
    z = 0.0
    for A in range(N):
        z += root[A] * beta[0, n - 1, A]
    if not z > 0.0:
        return False
    target = u[0] * z
    acc = 0.0
    pick = -1
    for A in range(N):
        wgt = root[A] * beta[0, n - 1, A]
        if wgt > 0.0:
            pick = A
            acc += wgt
            if acc > target:
                break
    top = 0
    stack[0, 0], stack[0, 1], stack[0, 2] = 0, n, pick
    used = 1
    node = 0
    while top >= 0:
        i, w, A = stack[top, 0], stack[top, 1], stack[top, 2]
        top -= 1
        spans[node, 0], spans[node, 1], spans[node, 2] = i, w, A
        node += 1
        if w == 1:
            tot = 0.0
            for a in range(V):
                tot += lexical[A, a] * tok[i, a]
            target = u[used] * tot
            used += 1
            acc = 0.0
            pick = -1
            for a in range(V):
                wgt = lexical[A, a] * tok[i, a]
                if wgt > 0.0:
                    pick = a
                    acc += wgt
                    if acc > target:
                        break
            tokens[i] = pick
            continue
        ref = _split_ref(logs, i, w)
        tot = 0.0
        for k in range(1, w):
            f = _split_weight(logs, i, w, k, ref)
            if f == 0.0:
                continue
            for r in range(rule_start[A], rule_start[A + 1]):
                tot += f * rule_prob[r] * beta[i, k - 1, rule_left[r]] * \
                    beta[i + k, w - k - 1, rule_right[r]]
        target = u[used] * tot
        used += 1
        acc = 0.0
        pick_k, pick_r = -1, -1
        done = False
        for k in range(1, w):
            f = _split_weight(logs, i, w, k, ref)
            if f == 0.0:
                continue
            for r in range(rule_start[A], rule_start[A + 1]):
                wgt = f * rule_prob[r] * beta[i, k - 1, rule_left[r]] * \
                    beta[i + k, w - k - 1, rule_right[r]]
                if wgt > 0.0:
                    pick_k, pick_r = k, r
                    acc += wgt
                    if acc > target:
                        done = True
                        break
            if done:
                break
        # right child first, so the left one is popped next: spans come out in preorder
        top += 1
        stack[top, 0], stack[top, 1], stack[top, 2] = i + pick_k, w - pick_k, rule_right[pick_r]
        top += 1
        stack[top, 0], stack[top, 1], stack[top, 2] = i, pick_k, rule_left[pick_r]
    return True


@_nb.njit(cache=True, parallel=True)
def nb_sample(ev, lexical, root, rule_start, rule_left, rule_right, rule_prob, left_start,
              by_left_parent, by_left_right, by_left_prob, uniforms):
    """Posterior samples: ev (b, n, V), uniforms (b, k, 2n) -> tokens (b, k, n),
    spans (b, k, 2n-1, 3), status (b,) (1: probability 0)."""
    b, n, V = ev.shape
    N = lexical.shape[0]
    reps = uniforms.shape[1]
    tokens = _np.zeros((b, reps, n), dtype=_np.int64)
    spans = _np.zeros((b, reps, 2 * n - 1, 3), dtype=_np.int64)
    status = _np.zeros(b, dtype=_np.int64)
    for s in _nb.prange(b):
        beta = _np.empty((n, n, N))
        logs = _np.empty((n, n))
        tok = _np.empty((n, V))
        stack = _np.empty((2 * n, 3), dtype=_np.int64)
        _inside_one(ev[s], lexical, left_start, by_left_parent, by_left_right, by_left_prob, beta,
                    logs, tok)
        for j in range(reps):
            if not _sample_one(beta, logs, tok, lexical, root, rule_start, rule_left, rule_right,
                               rule_prob, uniforms[s, j], tokens[s, j], spans[s, j], stack):
                status[s] = 1
                break
    return tokens, spans, status


@_nb.njit(cache=True, parallel=True)
def nb_sample_chart(beta, logs, tok, lexical, root, rule_start, rule_left, rule_right, rule_prob,
                    uniforms):
    """Samples from one given chart (beta (n, n, N), logs (n, n), tok (n, V)): uniforms (c, 2n)
    -> tokens (c, n), spans (c, 2n-1, 3), status (c,)."""
    c = uniforms.shape[0]
    n = beta.shape[0]
    tokens = _np.zeros((c, n), dtype=_np.int64)
    spans = _np.zeros((c, 2 * n - 1, 3), dtype=_np.int64)
    status = _np.zeros(c, dtype=_np.int64)
    for s in _nb.prange(c):
        stack = _np.empty((2 * n, 3), dtype=_np.int64)
        if not _sample_one(beta, logs, tok, lexical, root, rule_start, rule_left, rule_right,
                           rule_prob, uniforms[s], tokens[s], spans[s], stack):
            status[s] = 1
    return tokens, spans, status


@_nb.njit(cache=True)
def nb_length_chart(n, lexical, rule_start, rule_left, rule_right, rule_prob):
    """Inside chart without evidence, the same at every start: beta (n, n, N), logs (n, n)
    (entries with start + width > n unused), tok (n, V) ones."""
    N, V = lexical.shape
    by_width = _np.zeros((n, N))
    log_w = _np.full(n, -_np.inf)
    for A in range(N):
        for a in range(V):
            by_width[0, A] += lexical[A, a]
    log_w[0] = _normalise_row(by_width[0], 0.0)
    for w in range(2, n + 1):
        ref = -_np.inf
        for k in range(1, w):
            x = log_w[k - 1] + log_w[w - k - 1]
            if x > ref:
                ref = x
        if ref == -_np.inf:
            continue
        row = by_width[w - 1]
        for k in range(1, w):
            x = log_w[k - 1] + log_w[w - k - 1]
            if x == -_np.inf:
                continue
            f = math.exp(x - ref)
            for A in range(N):
                acc = 0.0
                for r in range(rule_start[A], rule_start[A + 1]):
                    acc += rule_prob[r] * by_width[k - 1, rule_left[r]] * \
                        by_width[w - k - 1, rule_right[r]]
                row[A] += f * acc
        log_w[w - 1] = _normalise_row(row, ref)
    beta = _np.empty((n, n, N))
    logs = _np.empty((n, n))
    for i in range(n):
        beta[i] = by_width
        logs[i] = log_w
    return beta, logs, _np.ones((n, V))
