"""The fused numba kernels of exact BP on the RHM tree (the ``"numba"`` backend of
:mod:`hierphase.bp`, which holds the public API and the readable torch reference).

Samples are processed in blocks of BLOCK, in parallel over ``workers`` (each allocates its
scratch buffers once and takes every ``workers``-th block: fresh buffers per block would cost a
page fault per 4 KiB, as much as the arithmetic). A block's messages live in one
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

__all__ = ["BLOCK", "nb_kept", "nb_marginals", "nb_root", "nb_sample"]

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
    mx = _np.empty(nb, dtype=ev.dtype)
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
def _nb_stage(src, first, count, nb, dst):
    """Copy the tiles src[first:first+count] (samples 0..nb-1) into dst[:count]. The sweeps read
    a node's children tiles row by row in the rules' order, i.e. at random: from a small buffer
    just filled by a sequential copy those reads hit the L1 cache instead of waiting on memory."""
    for i in range(count):
        for c in range(src.shape[1]):
            for bb in range(nb):
                dst[i, c, bb] = src[first + i, c, bb]


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
    tmp = _np.empty(block, dtype=up.dtype)
    inv = _np.empty(block, dtype=up.dtype)
    kids = _np.empty((s, up.shape[1], block), dtype=up.dtype)
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
            _nb_stage(up, cb, s, nb, kids)
            for a in range(n_p):
                acc = up[node, a]
                for bb in range(nb):
                    acc[bb] = 0.0
                for k in range(m):
                    if s == 2:
                        r0 = kids[0, tabs[level, a, k, 0]]
                        r1 = kids[1, tabs[level, a, k, 1]]
                        for bb in range(nb):
                            acc[bb] += r0[bb] * r1[bb]
                    else:
                        r0 = kids[0, tabs[level, a, k, 0]]
                        for bb in range(nb):
                            tmp[bb] = r0[bb]
                        for i in range(1, s):
                            ri = kids[i, tabs[level, a, k, i]]
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

# ----------------------------------------------------------------------------- top-down, per node
# The downward pass (posterior marginals) and the posterior draw both walk the tree top-down,
# node-major, and at a node read only that node's parent values and its children's upward
# tiles. They are written per node, so that a kernel doing both (nb_kept) reads each node's
# tiles once while they are in cache.

@_nb.njit(cache=True, nogil=True)
def _nb_root_posterior(n_par, nb, up, tile):
    """The root's posterior (its normalised upward message) into tile (V, BLOCK)."""
    for a in range(tile.shape[0]):
        for bb in range(nb):
            tile[a, bb] = up[0, a, bb] if a < n_par[0] else 0.0


@_nb.njit(cache=True, nogil=True)
def _nb_preorder(s, L):
    """The internal nodes in depth-first preorder, as (level, index within the level) rows.
    Walking the tree this way, a node's posterior is used right after it is computed, so only
    one row of s posterior tiles per level is alive (the stack of :func:`_nb_down_node`), and a
    node's upward tile is read again while still in cache."""
    n_internal = (s**L - 1) // (s - 1)
    order = _np.empty((n_internal, 2), dtype=_np.int64)
    stack = _np.empty((L * (s - 1) + 1, 2), dtype=_np.int64)
    top = 0
    stack[0, 0] = 0
    stack[0, 1] = 0
    count = 0
    while top >= 0:
        level = stack[top, 0]
        j = stack[top, 1]
        top -= 1
        order[count, 0] = level
        order[count, 1] = j
        count += 1
        if level + 1 < L:
            for i in range(s - 1, -1, -1):  # pushed in reverse: child 0 comes out first
                top += 1
                stack[top, 0] = level + 1
                stack[top, 1] = j * s + i
    return order


@_nb.njit(cache=True, nogil=True)
def _nb_down_node(tabs, n_par, s, level, node, cb, nb, up, zs, parent, post, ratio, q, inv,
                  kids):
    """Posterior marginals of the children cb..cb+s-1 of ``node`` into post[0..s-1] (tiles
    (V, BLOCK), normalised to 1 per sample) from the node's posterior ``parent`` (V, BLOCK) and
    the children's upward messages: the node's posterior splits over its rules in proportion to
    their weights, and each rule's share goes to the children's values it names."""
    m = tabs.shape[2]
    vmax = post.shape[1]
    _nb_stage(up, cb, s, nb, kids)
    for i in range(s):
        for c in range(vmax):
            for bb in range(nb):
                post[i, c, bb] = 0.0
    for a in range(n_par[level]):
        nonzero = False
        for bb in range(nb):
            w_sum = up[node, a, bb] * zs[node, bb]
            if parent[a, bb] > 0.0 and w_sum > 0.0:
                ratio[bb] = parent[a, bb] / w_sum
                nonzero = True
            else:
                ratio[bb] = 0.0
        if not nonzero:
            continue
        for k in range(m):
            r0 = kids[0, tabs[level, a, k, 0]]
            if s == 2:  # one fused loop, the same operations in the same order
                r1 = kids[1, tabs[level, a, k, 1]]
                p0 = post[0, tabs[level, a, k, 0]]
                p1 = post[1, tabs[level, a, k, 1]]
                for bb in range(nb):
                    x = r0[bb] * ratio[bb] * r1[bb]
                    p0[bb] += x
                    p1[bb] += x
                continue
            for bb in range(nb):
                q[bb] = r0[bb] * ratio[bb]
            for i in range(1, s):
                ri = kids[i, tabs[level, a, k, i]]
                for bb in range(nb):
                    q[bb] *= ri[bb]
            for i in range(s):
                pi = post[i, tabs[level, a, k, i]]
                for bb in range(nb):
                    pi[bb] += q[bb]
    for i in range(s):
        tile = post[i]
        for bb in range(nb):
            inv[bb] = 0.0
        for c in range(vmax):
            for bb in range(nb):
                inv[bb] += tile[c, bb]
        for bb in range(nb):
            inv[bb] = 1.0 / inv[bb] if inv[bb] > 0.0 else 0.0
        for c in range(vmax):
            for bb in range(nb):
                tile[c, bb] *= inv[bb]


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

@_nb.njit(cache=True, nogil=True)
def _nb_draw_root(n_par, b0, nb, up, uniforms, n_rep, rep, out, root):
    """Sample ``rep`` of each datum of the block: the class, from the root message."""
    for bb in range(nb):
        row = (b0 + bb) * n_rep + rep
        for a in range(n_par[0]):
            root[a] = up[0, a, bb]
        out[row, 0] = _nb_draw(root, n_par[0], uniforms[row, 0])


@_nb.njit(cache=True, nogil=True)
def _nb_draw_node(tabs, s, level, node, cb, b0, nb, up, uniforms, n_rep, rep, out, w):
    """Sample ``rep``: the rule at ``node`` (already drawn) with probability ∝ its weight, which
    fixes the children cb..cb+s-1."""
    m = tabs.shape[2]
    for bb in range(nb):
        row = (b0 + bb) * n_rep + rep
        a = out[row, node]
        for k in range(m):
            prod = up[cb, tabs[level, a, k, 0], bb]
            for i in range(1, s):
                prod *= up[cb + i, tabs[level, a, k, i], bb]
            w[k] = prod
        k = _nb_draw(w, m, uniforms[row, 1 + node])
        for i in range(s):
            out[row, cb + i] = tabs[level, a, k, i]


@_nb.njit(cache=True, nogil=True)
def _nb_invalidate(status, b0, nb, n_rep, out):
    """Rows of data whose evidence BP rejected get -1 everywhere."""
    for bb in range(nb):
        if status[b0 + bb] != 0:
            for rep in range(n_rep):
                for node in range(out.shape[1]):
                    out[(b0 + bb) * n_rep + rep, node] = -1

# ----------------------------------------------------------------------------- kernels
@_nb.njit(cache=True, nogil=True)
def _nb_split(n, d, s, block, workers):
    """The node count of a tree with ``d`` leaves, and how a kernel splits its ``n`` data: the
    number of blocks of ``block`` data and of workers (at least one, at most one per block),
    worker ``w`` taking blocks ``w, w + workers, ...``."""
    n_blocks = (n + block - 1) // block
    return (d * s - 1) // (s - 1), n_blocks, min(max(workers, 1), n_blocks)


@_nb.njit(cache=True, nogil=True)
def _nb_upward_scratch(ev, n_nodes, vmax, block):
    """A worker's buffers for the upward pass: the upward tiles and normalisers of every node."""
    return (_np.empty((n_nodes, vmax, block), dtype=ev.dtype),
            _np.empty((n_nodes, block), dtype=ev.dtype))


@_nb.njit(cache=True, nogil=True)
def _nb_draw_scratch(ev, m, vmax):
    """A worker's buffers for the top-down draws: rule weights and root weights."""
    return _np.empty(m, dtype=ev.dtype), _np.empty(vmax, dtype=ev.dtype)


@_nb.njit(cache=True, nogil=True)
def _nb_block_upward(ev, blk, block, tabs, n_par, s, L, up, zs, status):
    """The upward pass of block ``blk`` into ``up``, ``zs``; returns the block's first datum and
    its size (the last block may be short)."""
    b0 = blk * block
    nb = min(block, ev.shape[0] - b0)
    _nb_upward(ev, b0, nb, tabs, n_par, s, L, up, zs, status)
    return b0, nb


@_nb.njit(cache=True, nogil=True)
def _nb_marginal_scratch(ev, n_nodes, vmax, block, s, L):
    """A worker's buffers for the upward pass and the depth-first marginals: upward tiles and
    normalisers of every node (:func:`_nb_upward_scratch`), one row of s posterior tiles per level
    (the walk's stack), and the per-node temporaries of :func:`_nb_down_node`."""
    up, zs = _nb_upward_scratch(ev, n_nodes, vmax, block)
    return (up, zs,
            _np.empty((L + 1, s, vmax, block), dtype=ev.dtype),
            _np.empty(block, dtype=ev.dtype),
            _np.empty(block, dtype=ev.dtype),
            _np.empty(block, dtype=ev.dtype),
            _np.empty((s, vmax, block), dtype=ev.dtype))


@_nb.njit(cache=True, parallel=True)
def nb_marginals(ev, tabs, n_par, s, L, vmax, block, workers):
    """Posterior marginals, level-major in one flat array: level l is the (n, s**l, vmax)
    block starting at n * vmax * (s**l - 1)/(s - 1)."""
    n = ev.shape[0]
    n_nodes, n_blocks, n_workers = _nb_split(n, ev.shape[1], s, block, workers)
    out = _np.empty(n * n_nodes * vmax)
    status = _np.zeros(n, dtype=_np.int8)
    order = _nb_preorder(s, L)
    for worker in _nb.prange(n_workers):  # scratch allocated once per worker
        up, zs, post, ratio, q, inv, kids = _nb_marginal_scratch(ev, n_nodes, vmax, block, s, L)
        for blk in range(worker, n_blocks, n_workers):
            b0, nb = _nb_block_upward(ev, blk, block, tabs, n_par, s, L, up, zs, status)
            _nb_root_posterior(n_par, nb, up, post[0, 0])
            for bb in range(nb):
                for a in range(vmax):
                    out[(b0 + bb) * vmax + a] = post[0, 0, a, bb]
            for r in range(order.shape[0]):
                level, j = order[r, 0], order[r, 1]
                base = (s**level - 1) // (s - 1)
                child_base = base * s + 1
                cb = child_base + j * s
                _nb_down_node(tabs, n_par, s, level, base + j, cb, nb, up, zs, post[level, j % s],
                              post[level + 1], ratio, q, inv, kids)
                out_off = n * vmax * child_base
                child_nodes = s ** (level + 1)
                for i in range(s):  # write the children out while their tiles are hot
                    tile = post[level + 1, i]
                    for bb in range(nb):
                        row = out_off + ((b0 + bb) * child_nodes + j * s + i) * vmax
                        for c in range(vmax):
                            out[row + c] = tile[c, bb]
    return out, status


@_nb.njit(cache=True, parallel=True)
def nb_root(ev, tabs, n_par, s, L, vmax, block, workers):
    n = ev.shape[0]
    n_nodes, n_blocks, n_workers = _nb_split(n, ev.shape[1], s, block, workers)
    root = _np.zeros((n, vmax))
    status = _np.zeros(n, dtype=_np.int8)
    for worker in _nb.prange(n_workers):  # scratch allocated once per worker
        up, zs = _nb_upward_scratch(ev, n_nodes, vmax, block)
        for blk in range(worker, n_blocks, n_workers):
            b0, nb = _nb_block_upward(ev, blk, block, tabs, n_par, s, L, up, zs, status)
            for bb in range(nb):
                for a in range(n_par[0]):
                    root[b0 + bb, a] = up[0, a, bb]
    return root, status

@_nb.njit(cache=True, parallel=True)
def nb_sample(ev, tabs, n_par, s, L, vmax, uniforms, block, n_rep, workers):
    """``n_rep`` posterior samples of each datum: one upward pass per block of data, then
    ``n_rep`` top-down draws from the same messages. Row ``b * n_rep + rep`` of ``uniforms`` and
    of the output belongs to sample ``rep`` of datum ``b``; each draw is exactly the one the
    single-sample kernel makes for that datum with that row of uniforms."""
    n, m = ev.shape[0], tabs.shape[2]
    n_nodes, n_blocks, n_workers = _nb_split(n, ev.shape[1], s, block, workers)
    out = _np.empty((n * n_rep, n_nodes), dtype=_np.int64)
    status = _np.zeros(n, dtype=_np.int8)
    order = _nb_preorder(s, L)
    for worker in _nb.prange(n_workers):  # scratch allocated once per worker
        up, zs = _nb_upward_scratch(ev, n_nodes, vmax, block)
        w, root = _nb_draw_scratch(ev, m, vmax)
        for blk in range(worker, n_blocks, n_workers):
            b0, nb = _nb_block_upward(ev, blk, block, tabs, n_par, s, L, up, zs, status)
            for rep in range(n_rep):
                _nb_draw_root(n_par, b0, nb, up, uniforms, n_rep, rep, out, root)
                for r in range(order.shape[0]):
                    level, j = order[r, 0], order[r, 1]
                    base = (s**level - 1) // (s - 1)
                    _nb_draw_node(tabs, s, level, base + j, base * s + 1 + j * s, b0, nb, up,
                                  uniforms, n_rep, rep, out, w)
            _nb_invalidate(status, b0, nb, n_rep, out)
    return out, status


@_nb.njit(cache=True, parallel=True)
def nb_kept(ev, tabs, n_par, s, L, vmax, truth, uniforms, block, workers):
    """Fused forward-backward observables: per datum and node, the posterior probability of the
    true value ``truth[b, node]`` and one posterior sample, from ONE upward pass per block and
    one top-down walk that, at each node, computes the children's marginals, reads off their
    true values and draws the node's rule while the children's tiles are in cache. The sample
    is exactly :func:`nb_sample`'s with the same uniforms and the probabilities exactly
    :func:`nb_marginals`' at the true values; nothing of size (n, nodes, V) is written."""
    n, m = ev.shape[0], tabs.shape[2]
    n_nodes, n_blocks, n_workers = _nb_split(n, ev.shape[1], s, block, workers)
    p_true = _np.empty((n, n_nodes))
    out = _np.empty((n, n_nodes), dtype=_np.int64)
    status = _np.zeros(n, dtype=_np.int8)
    order = _nb_preorder(s, L)
    for worker in _nb.prange(n_workers):  # scratch allocated once per worker
        up, zs, post, ratio, q, inv, kids = _nb_marginal_scratch(ev, n_nodes, vmax, block, s, L)
        w, root = _nb_draw_scratch(ev, m, vmax)
        for blk in range(worker, n_blocks, n_workers):
            b0, nb = _nb_block_upward(ev, blk, block, tabs, n_par, s, L, up, zs, status)
            _nb_root_posterior(n_par, nb, up, post[0, 0])
            _nb_draw_root(n_par, b0, nb, up, uniforms, 1, 0, out, root)
            for bb in range(nb):
                p_true[b0 + bb, 0] = post[0, 0, truth[b0 + bb, 0], bb]
            for r in range(order.shape[0]):
                level, j = order[r, 0], order[r, 1]
                base = (s**level - 1) // (s - 1)
                cb = base * s + 1 + j * s
                _nb_down_node(tabs, n_par, s, level, base + j, cb, nb, up, zs, post[level, j % s],
                              post[level + 1], ratio, q, inv, kids)
                _nb_draw_node(tabs, s, level, base + j, cb, b0, nb, up, uniforms, 1, 0, out, w)
                for i in range(s):
                    tile = post[level + 1, i]
                    for bb in range(nb):
                        p_true[b0 + bb, cb + i] = tile[truth[b0 + bb, cb + i], bb]
            _nb_invalidate(status, b0, nb, 1, out)
    return p_true, out, status
