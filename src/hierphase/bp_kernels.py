"""The fused numba kernels of exact BP on the RHM tree (the ``"numba"`` backend of
:mod:`hierphase.bp`, which holds the public API and the readable torch reference).

Samples are processed in blocks of BLOCK (parallel over blocks). A block's messages live in one
(nodes, V, BLOCK) buffer, nodes in level order (level l starts at (s**l - 1)/(s - 1)), samples
innermost. For every node, parent value a and rule k the kernel reads the rule's s symbols once
and multiplies-adds the children's rows over the block's samples: contiguous SIMD loops, the
gather, product and sum fused, no (nodes, rules) or (nodes, rules, s) intermediate. Each sample
is computed with exactly the operations (and order) of the plain per-sample recursion.

Kernels compile on first call and are cached on disk beside this module (``cache=True``); see
:func:`hierphase.bp.compile_kernels`. Importing this module raises ImportError without numba.
"""

from __future__ import annotations

import math

import numba as _nb
import numpy as _np

__all__ = ["BLOCK", "nb_marginals", "nb_root", "nb_sample"]

#: Samples per block of the kernels (the SIMD width of the inner loops, times a few).
BLOCK = 32


@_nb.njit(cache=True, nogil=True)
def _nb_leaves(ev, b0, nb, up, base, status):
    """Leaf messages of samples b0..b0+nb, ``exp(ev - max)`` (max 1; the per-leaf constant
    cancels in every posterior), into up[base + j, :, bb]. Leaf-major loops keep each
    (V, BLOCK) tile in L1 and write it contiguously. exp is skipped for the maximum (exactly 1)
    and for a value equal to the previous one (epsilon, masking and uniform evidence have two
    values per leaf)."""
    d, v = ev.shape[1], ev.shape[2]
    mx = _np.empty(nb)
    last_x = _np.nan
    last_e = 1.0
    for j in range(d):
        for bb in range(nb):
            row = ev[b0 + bb, j]
            top = row[0]
            for a in range(1, v):
                top = max(top, row[a])
            if not (top > -_np.inf and top < _np.inf):  # no finite entry, +inf or NaN
                status[b0 + bb] = 2
            mx[bb] = top
        tile = up[base + j]
        for a in range(v):
            for bb in range(nb):
                x = ev[b0 + bb, j, a] - mx[bb]
                if x == 0.0:
                    e = 1.0
                elif x == last_x:
                    e = last_e
                else:
                    last_x = x
                    last_e = math.exp(x)
                    e = last_e
                tile[a, bb] = e

@_nb.njit(cache=True, nogil=True)
def _nb_upward(ev, b0, nb, tabs, n_par, s, L, up, zs, status):
    """Per-node normalised upward messages of a block into up (nodes, V, BLOCK); the
    normalisers into zs (nodes, BLOCK). status[b]: 1 where a node has zero likelihood,
    2 where the evidence is not finite."""
    d = ev.shape[1]
    m = tabs.shape[2]
    block = up.shape[2]
    base = (d - 1) // (s - 1)
    _nb_leaves(ev, b0, nb, up, base, status)
    tmp = _np.empty(block)
    inv = _np.empty(block)
    nodes = d
    for level in range(L - 1, -1, -1):
        child_base = base
        nodes //= s
        base -= nodes
        n_p = n_par[level]
        for j in range(nodes):
            cb = child_base + j * s
            node = base + j
            for bb in range(nb):
                zs[node, bb] = 0.0
            for a in range(n_p):
                acc = up[node, a]
                for bb in range(nb):
                    acc[bb] = 0.0
                for k in range(m):
                    if s == 2:
                        r0 = up[cb, tabs[level, a, k, 0]]
                        r1 = up[cb + 1, tabs[level, a, k, 1]]
                        for bb in range(nb):
                            acc[bb] += r0[bb] * r1[bb]
                    else:
                        r0 = up[cb, tabs[level, a, k, 0]]
                        for bb in range(nb):
                            tmp[bb] = r0[bb]
                        for i in range(1, s):
                            ri = up[cb + i, tabs[level, a, k, i]]
                            for bb in range(nb):
                                tmp[bb] *= ri[bb]
                        for bb in range(nb):
                            acc[bb] += tmp[bb]
                for bb in range(nb):
                    zs[node, bb] += acc[bb]
            for bb in range(nb):
                if not zs[node, bb] > 0.0:
                    if status[b0 + bb] == 0:
                        status[b0 + bb] = 1
                    zs[node, bb] = 1.0
                inv[bb] = 1.0 / zs[node, bb]
            for a in range(n_p):
                row = up[node, a]
                for bb in range(nb):
                    row[bb] *= inv[bb]

@_nb.njit(cache=True, parallel=True)
def nb_marginals(ev, tabs, n_par, s, L, vmax, block):
    """Posterior marginals, level-major in one flat array: level l is the (n, s**l, vmax)
    block starting at n * vmax * (s**l - 1)/(s - 1)."""
    n, d = ev.shape[0], ev.shape[1]
    m = tabs.shape[2]
    n_nodes = (d * s - 1) // (s - 1)
    out = _np.empty(n * n_nodes * vmax)
    status = _np.zeros(n, dtype=_np.int8)
    n_blocks = (n + block - 1) // block
    for blk in _nb.prange(n_blocks):
        b0 = blk * block
        nb = min(block, n - b0)
        up = _np.empty((n_nodes, vmax, block))
        zs = _np.empty((n_nodes, block))
        post = _np.empty((n_nodes, vmax, block))
        ratio = _np.empty(block)
        q = _np.empty(block)
        inv = _np.empty(block)
        _nb_upward(ev, b0, nb, tabs, n_par, s, L, up, zs, status)
        for bb in range(nb):
            for a in range(vmax):
                x = up[0, a, bb] if a < n_par[0] else 0.0
                post[0, a, bb] = x
                out[(b0 + bb) * vmax + a] = x
        base = 0
        nodes = 1
        for level in range(L):
            child_base = base + nodes
            out_off = n * vmax * child_base
            child_nodes = nodes * s
            for j in range(nodes):
                node = base + j
                cb = child_base + j * s
                for i in range(s):
                    for c in range(vmax):
                        for bb in range(nb):
                            post[cb + i, c, bb] = 0.0
                for a in range(n_par[level]):
                    nonzero = False
                    for bb in range(nb):
                        w_sum = up[node, a, bb] * zs[node, bb]
                        if post[node, a, bb] > 0.0 and w_sum > 0.0:
                            ratio[bb] = post[node, a, bb] / w_sum
                            nonzero = True
                        else:
                            ratio[bb] = 0.0
                    if not nonzero:
                        continue
                    for k in range(m):
                        r0 = up[cb, tabs[level, a, k, 0]]
                        for bb in range(nb):
                            q[bb] = r0[bb] * ratio[bb]
                        for i in range(1, s):
                            ri = up[cb + i, tabs[level, a, k, i]]
                            for bb in range(nb):
                                q[bb] *= ri[bb]
                        for i in range(s):
                            pi = post[cb + i, tabs[level, a, k, i]]
                            for bb in range(nb):
                                pi[bb] += q[bb]
                # normalise the children while their tiles are hot, and write them out
                for i in range(s):
                    tile = post[cb + i]
                    for bb in range(nb):
                        inv[bb] = 0.0
                    for c in range(vmax):
                        for bb in range(nb):
                            inv[bb] += tile[c, bb]
                    for bb in range(nb):
                        inv[bb] = 1.0 / inv[bb] if inv[bb] > 0.0 else 0.0
                    for bb in range(nb):
                        row = out_off + ((b0 + bb) * child_nodes + j * s + i) * vmax
                        for c in range(vmax):
                            x = tile[c, bb] * inv[bb]
                            tile[c, bb] = x
                            out[row + c] = x
            base = child_base
            nodes = child_nodes
    return out, status

@_nb.njit(cache=True, parallel=True)
def nb_root(ev, tabs, n_par, s, L, vmax, block):
    n, d = ev.shape[0], ev.shape[1]
    n_nodes = (d * s - 1) // (s - 1)
    root = _np.zeros((n, vmax))
    status = _np.zeros(n, dtype=_np.int8)
    n_blocks = (n + block - 1) // block
    for blk in _nb.prange(n_blocks):
        b0 = blk * block
        nb = min(block, n - b0)
        up = _np.empty((n_nodes, vmax, block))
        zs = _np.empty((n_nodes, block))
        _nb_upward(ev, b0, nb, tabs, n_par, s, L, up, zs, status)
        for bb in range(nb):
            for a in range(n_par[0]):
                root[b0 + bb, a] = up[0, a, bb]
    return root, status

@_nb.njit(cache=True, nogil=True)
def _nb_draw(weights, count, u):
    """Index in [0, count) drawn with probability ∝ weights (inverse CDF, never a zero weight)."""
    total = 0.0
    for i in range(count):
        total += weights[i]
    target = u * total
    cum = 0.0
    last = 0
    for i in range(count):
        if weights[i] > 0.0:
            last = i
            cum += weights[i]
            if cum > target:
                return i
    return last

@_nb.njit(cache=True, parallel=True)
def nb_sample(ev, tabs, n_par, s, L, vmax, uniforms, block, n_rep):
    """``n_rep`` posterior samples of each datum: one upward pass per block of data, then
    ``n_rep`` top-down draws from the same messages. Row ``b * n_rep + rep`` of ``uniforms`` and
    of the output belongs to sample ``rep`` of datum ``b``; each draw is exactly the one the
    single-sample kernel makes for that datum with that row of uniforms."""
    n, d = ev.shape[0], ev.shape[1]
    m = tabs.shape[2]
    n_nodes = (d * s - 1) // (s - 1)
    out = _np.empty((n * n_rep, n_nodes), dtype=_np.int64)
    status = _np.zeros(n, dtype=_np.int8)
    n_blocks = (n + block - 1) // block
    for blk in _nb.prange(n_blocks):
        b0 = blk * block
        nb = min(block, n - b0)
        up = _np.empty((n_nodes, vmax, block))
        zs = _np.empty((n_nodes, block))
        w = _np.empty(m)
        root = _np.empty(vmax)
        _nb_upward(ev, b0, nb, tabs, n_par, s, L, up, zs, status)
        for rep in range(n_rep):
            for bb in range(nb):
                row = (b0 + bb) * n_rep + rep
                for a in range(n_par[0]):
                    root[a] = up[0, a, bb]
                out[row, 0] = _nb_draw(root, n_par[0], uniforms[row, 0])
            # top-down, node-major so that a node's children tiles stay in cache for the block
            base = 0
            nodes = 1
            for level in range(L):
                child_base = base + nodes
                for j in range(nodes):
                    cb = child_base + j * s
                    for bb in range(nb):
                        row = (b0 + bb) * n_rep + rep
                        a = out[row, base + j]
                        for k in range(m):
                            prod = up[cb, tabs[level, a, k, 0], bb]
                            for i in range(1, s):
                                prod *= up[cb + i, tabs[level, a, k, i], bb]
                            w[k] = prod
                        k = _nb_draw(w, m, uniforms[row, 1 + base + j])
                        for i in range(s):
                            out[row, cb + i] = tabs[level, a, k, i]
                base = child_base
                nodes *= s
        for bb in range(nb):
            if status[b0 + bb] != 0:
                for rep in range(n_rep):
                    for node in range(n_nodes):
                        out[(b0 + bb) * n_rep + rep, node] = -1
    return out, status
