"""Exact belief propagation (sum-product) on the RHM tree: posterior marginals and exact
posterior sampling of a datum with its whole latent tree, batched over samples.

Messages are kept in probability space, **normalised per node** (each upward message sums to 1),
in float64 by default; the normalisation constants are dropped, which leaves every marginal and
every sampling probability unchanged. Upward message of a level-``l`` node for value ``a``::

    u_l(a) ∝ sum_k  prod_i  u_{l+1}(child_i)[tables[l][a, k, i]]

Posterior of (parent value a, rule k) at a node: ``q(a, k) = post(a) * w(a, k) / sum_k' w(a, k')``
with ``w(a, k) = prod_i u(child_i)[tables[l][a, k, i]]``; the child marginals are ``q`` summed by
child value. Sampling draws the class from the root marginal and then, top-down, a rule ``k`` with
probability ``∝ w(a, k)`` given the sampled parent ``a``. The root prior is uniform.

Two backends give the same numbers: ``"numba"`` (default when numba imports; fused
gather-multiply-sum kernels, parallel over blocks of samples, no ``(nodes, rules)``
intermediates) and
``"torch"`` (plain batched tensors, a readable reference).
"""

from __future__ import annotations

import math

import torch

from .rhm import Rules
from .seeding import derive_seed, torch_generator

__all__ = ["marginals", "class_posterior", "sample_posterior", "upward_messages",
           "posterior_uniforms", "compile_kernels", "BACKENDS", "BLOCK"]

BACKENDS = ("auto", "numba", "torch")
_NUMBA_AVAILABLE = False  # set below once the fused kernels are defined


def _check_evidence(rules: Rules, log_evidence: torch.Tensor) -> torch.Tensor:
    ev = torch.as_tensor(log_evidence)
    if ev.dim() != 3 or ev.shape[1] != rules.d or ev.shape[2] != rules.v:
        raise ValueError(f"log_evidence must have shape (n, d={rules.d}, v={rules.v}), "
                         f"got {tuple(ev.shape)}")
    if not ev.is_floating_point():
        raise ValueError("log_evidence must be a floating-point tensor")
    return ev.detach().cpu()  # BP runs on the CPU; results are CPU tensors


def _leaf_messages(log_evidence: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    ev = log_evidence.to(dtype)
    top = ev.amax(dim=-1, keepdim=True)
    if not torch.isfinite(top).all():
        raise ValueError("log_evidence: every leaf needs at least one finite entry (no NaN or +inf)")
    msg = torch.exp(ev - top)
    return msg / msg.sum(-1, keepdim=True)


def _resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "numba" if _NUMBA_AVAILABLE else "torch"
    if backend == "numba" and not _NUMBA_AVAILABLE:
        raise ValueError("backend='numba' needs numba, which is not importable here")
    return backend


# ----------------------------------------------------------------------------- torch backend
def _rule_weights(rules: Rules, level: int, child_msgs: torch.Tensor) -> torch.Tensor:
    """w (n, s**level, n_parents, m): product of children's messages at each rule's tuple."""
    n = child_msgs.shape[0]
    s = rules.s
    table = rules.tables[level]
    children = child_msgs.reshape(n, s**level, s, child_msgs.shape[-1])
    w = None
    for i in range(s):
        g = children[:, :, i, :][..., table[:, :, i]]
        w = g if w is None else w * g
    return w


def upward_messages(rules: Rules, log_evidence: torch.Tensor,
                    dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    """Upward messages (torch backend), L+1 tensors (n, s**l, v_l), each summing to 1 per node."""
    ev = _check_evidence(rules, log_evidence)
    ups = [None] * (rules.L + 1)
    ups[rules.L] = _leaf_messages(ev, dtype)
    for level in range(rules.L - 1, -1, -1):
        u = _rule_weights(rules, level, ups[level + 1]).sum(-1)
        z = u.sum(-1, keepdim=True)
        if (z <= 0).any():
            raise ValueError("log_evidence is incompatible with every datum of this RHM "
                             "(zero likelihood at some node)")
        ups[level] = u / z
    return ups


def _marginals_torch(rules: Rules, ev: torch.Tensor, dtype: torch.dtype) -> list[torch.Tensor]:
    ups = upward_messages(rules, ev, dtype)
    n, s = ev.shape[0], rules.s
    post = [ups[0]]
    for level in range(rules.L):
        w = _rule_weights(rules, level, ups[level + 1])  # (n, nodes, P, m)
        big_w = w.sum(-1, keepdim=True)
        ratio = torch.where(big_w > 0, post[level].unsqueeze(-1) / big_w.clamp_min(1e-300),
                            torch.zeros_like(big_w))
        q = (w * ratio).reshape(n, s**level, -1)
        table = rules.tables[level]
        child = torch.zeros(n, s**level, s, rules.v, dtype=dtype)
        for i in range(s):
            child[:, :, i, :].index_add_(2, table[:, :, i].reshape(-1), q)
        child = child.reshape(n, s ** (level + 1), rules.v)
        post.append(child / child.sum(-1, keepdim=True))
    return post


def _inverse_cdf(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Index drawn from unnormalised ``weights`` (..., K) with uniforms ``u`` (...)."""
    cdf = weights.cumsum(-1)
    target = (u * cdf[..., -1]).unsqueeze(-1)
    idx = (cdf <= target).sum(-1)
    return idx.clamp(max=weights.shape[-1] - 1)


def _sample_torch(rules: Rules, ev: torch.Tensor, uniforms: torch.Tensor,
                  dtype: torch.dtype) -> list[torch.Tensor]:
    ups = upward_messages(rules, ev, dtype)
    n, s = ev.shape[0], rules.s
    level_vals = _inverse_cdf(ups[0], uniforms[:, :1])  # (n, 1)
    trees = [level_vals]
    offset = 1
    for level in range(rules.L):
        nodes = s**level
        w = _rule_weights(rules, level, ups[level + 1])  # (n, nodes, P, m)
        w_sel = torch.gather(w, 2, level_vals[:, :, None, None].expand(n, nodes, 1, rules.m))
        k = _inverse_cdf(w_sel.squeeze(2), uniforms[:, offset:offset + nodes])
        offset += nodes
        level_vals = rules.tables[level][level_vals, k].reshape(n, nodes * s)
        trees.append(level_vals)
    return trees


# ----------------------------------------------------------------------------- public API
def posterior_uniforms(rules: Rules, n: int, seed: int) -> torch.Tensor:
    """The uniforms (n, 1 + (d-1)/(s-1)) float64 that :func:`sample_posterior` consumes:
    column 0 draws the class, then one column per internal node, level by level."""
    gen = torch_generator(derive_seed(int(seed), "bp.sample_posterior"))
    n_internal = (rules.d - 1) // (rules.s - 1)
    return torch.rand((n, 1 + n_internal), generator=gen, dtype=torch.float64)


def marginals(rules: Rules, log_evidence: torch.Tensor, dtype: torch.dtype = torch.float64,
              backend: str = "auto") -> list[torch.Tensor]:
    """Exact posterior marginals: L+1 tensors (n, s**l, v_l) (``v_0 = n_classes``), rows sum to 1.

    ``log_evidence`` (n, d, v): per-leaf log-likelihoods (see :mod:`hierphase.noise`)."""
    ev = _check_evidence(rules, log_evidence)
    if _resolve_backend(backend) == "numba" and dtype == torch.float64:
        return _marginals_numba(rules, ev)
    return _marginals_torch(rules, ev, dtype)


def class_posterior(rules: Rules, log_evidence: torch.Tensor,
                    backend: str = "auto") -> torch.Tensor:
    """Posterior over the class only, (n, n_classes) float64: the upward pass alone (a fraction
    of the cost of :func:`marginals`)."""
    ev = _check_evidence(rules, log_evidence)
    if _resolve_backend(backend) == "numba":
        tabs, n_par = _packed_tables(rules)
        root, ok = _nb_root(_ev_numpy(ev), tabs, n_par, rules.s, rules.L,
                            max(rules.v, rules.n_classes), BLOCK)
        _raise_if_incompatible(ok, ev)
        return torch.from_numpy(root[:, : rules.n_classes])
    return upward_messages(rules, ev)[0][:, 0]


def compile_kernels() -> bool:
    """Compile the fused numba kernels (or load them from numba's on-disk cache) with a tiny model.

    The first call in a fresh checkout takes about 15 s of JIT compilation; numba then caches the
    machine code next to this module. ``workflow/with-env.sh`` calls this once after installing,
    so that the workflow's parallel sweep jobs (and the tests) load the kernels instead of each
    compiling them. Returns whether the numba backend is available."""
    if not _NUMBA_AVAILABLE:
        return False
    from .rhm import sample_rules, sample_trees

    for s in (2, 3):
        rules = sample_rules(4, 2, s, 2, seed=0)
        leaves = sample_trees(rules, 3, seed=0)[-1]
        ev = torch.nn.functional.one_hot(leaves, rules.v).to(torch.float64)
        marginals(rules, ev, backend="numba")
        sample_posterior(rules, ev, seed=0, backend="numba")
    return True


def sample_posterior(rules: Rules, log_evidence: torch.Tensor, seed: int,
                     dtype: torch.dtype = torch.float64, backend: str = "auto") -> list[torch.Tensor]:
    """One exact posterior sample per datum, with its whole latent tree: L+1 LongTensors
    (n, s**l), like :func:`hierphase.rhm.sample_trees`. Deterministic in ``seed``."""
    ev = _check_evidence(rules, log_evidence)
    uniforms = posterior_uniforms(rules, ev.shape[0], seed)
    if _resolve_backend(backend) == "numba" and dtype == torch.float64:
        return _sample_numba(rules, ev, uniforms)
    return _sample_torch(rules, ev, uniforms, dtype)


# ----------------------------------------------------------------------------- numba backend
# Samples are processed in blocks of BLOCK (parallel over blocks). A block's messages live in one
# (nodes, V, BLOCK) buffer, nodes in level order (level l starts at (s**l - 1)/(s - 1)), samples
# innermost. For every node, parent value a and rule k the kernel reads the rule's s symbols once
# and multiplies-adds the children's rows over the block's samples: contiguous SIMD loops, the
# gather, product and sum fused, no (nodes, rules) or (nodes, rules, s) intermediate. Each sample
# is computed with exactly the operations (and order) of the plain per-sample recursion.
try:
    import numba as _nb
    import numpy as _np

    _NUMBA_AVAILABLE = True
except ImportError:  # pragma: no cover - numba is a hard dependency, this keeps torch usable
    _NUMBA_AVAILABLE = False

#: Samples per block of the numba kernels (the SIMD width of the inner loops, times a few).
BLOCK = 32

if _NUMBA_AVAILABLE:

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
    def _nb_marginals(ev, tabs, n_par, s, L, vmax, block):
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
    def _nb_root(ev, tabs, n_par, s, L, vmax, block):
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
    def _nb_sample(ev, tabs, n_par, s, L, vmax, uniforms, block):
        n, d = ev.shape[0], ev.shape[1]
        m = tabs.shape[2]
        n_nodes = (d * s - 1) // (s - 1)
        out = _np.empty((n, n_nodes), dtype=_np.int64)
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
            for bb in range(nb):
                b = b0 + bb
                for a in range(n_par[0]):
                    root[a] = up[0, a, bb]
                out[b, 0] = _nb_draw(root, n_par[0], uniforms[b, 0])
            # top-down, node-major so that a node's children tiles stay in cache for the block
            base = 0
            nodes = 1
            for level in range(L):
                child_base = base + nodes
                for j in range(nodes):
                    cb = child_base + j * s
                    for bb in range(nb):
                        b = b0 + bb
                        a = out[b, base + j]
                        for k in range(m):
                            prod = up[cb, tabs[level, a, k, 0], bb]
                            for i in range(1, s):
                                prod *= up[cb + i, tabs[level, a, k, i], bb]
                            w[k] = prod
                        k = _nb_draw(w, m, uniforms[b, 1 + base + j])
                        for i in range(s):
                            out[b, cb + i] = tabs[level, a, k, i]
                base = child_base
                nodes *= s
            for bb in range(nb):
                if status[b0 + bb] != 0:
                    for node in range(n_nodes):
                        out[b0 + bb, node] = -1
        return out, status


def _packed_tables(rules: Rules):
    """(L, P_max, m, s) int64 array of all tables (zero-padded) and (L,) parents per level."""
    p_max = max(rules.v, rules.n_classes)
    tabs = _np.zeros((rules.L, p_max, rules.m, rules.s), dtype=_np.int64)
    n_par = _np.zeros(rules.L, dtype=_np.int64)
    for level, t in enumerate(rules.tables):
        tabs[level, : t.shape[0]] = t.numpy()
        n_par[level] = t.shape[0]
    return tabs, n_par


def _ev_numpy(ev: torch.Tensor):
    return ev.detach().to(torch.float64).contiguous().numpy()


def _raise_if_incompatible(status, ev: torch.Tensor):
    bad = status != 0
    if not bad.any():
        return
    # NaN or +inf inside a leaf only shows as a zero/NaN likelihood in the kernel: look again
    sub = ev[torch.from_numpy(bad)]
    if (status == 2).any() or torch.isnan(sub).any() or torch.isposinf(sub).any():
        raise ValueError("log_evidence: every leaf needs at least one finite entry (no NaN or +inf)")
    raise ValueError("log_evidence is incompatible with every datum of this RHM "
                     "(zero likelihood at some node)")


def _split_levels(rules: Rules, flat: torch.Tensor) -> list[torch.Tensor]:
    out, start = [], 0
    for level in range(rules.L + 1):
        nodes = rules.s**level
        block = flat[:, start:start + nodes]
        if block.dim() == 3:
            block = block[..., : rules.n_symbols(level)]
        out.append(block.contiguous())
        start += nodes
    return out


def _marginals_numba(rules: Rules, ev: torch.Tensor) -> list[torch.Tensor]:
    tabs, n_par = _packed_tables(rules)
    vmax = max(rules.v, rules.n_classes)
    flat, status = _nb_marginals(_ev_numpy(ev), tabs, n_par, rules.s, rules.L, vmax, BLOCK)
    _raise_if_incompatible(status, ev)
    flat = torch.from_numpy(flat)
    n, out, start = ev.shape[0], [], 0
    for level in range(rules.L + 1):
        nodes = rules.s**level
        block = flat[n * vmax * start: n * vmax * (start + nodes)].view(n, nodes, vmax)
        out.append(block[..., : rules.n_symbols(level)].contiguous())  # no copy when v_l = vmax
        start += nodes
    return out


def _sample_numba(rules: Rules, ev: torch.Tensor, uniforms: torch.Tensor) -> list[torch.Tensor]:
    tabs, n_par = _packed_tables(rules)
    out, ok = _nb_sample(_ev_numpy(ev), tabs, n_par, rules.s, rules.L,
                         max(rules.v, rules.n_classes), uniforms.contiguous().numpy(), BLOCK)
    _raise_if_incompatible(ok, ev)
    return _split_levels(rules, torch.from_numpy(out))
