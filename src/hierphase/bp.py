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

Two backends give the same numbers: ``"numba"`` (default when numba imports; the fused
gather-multiply-sum kernels of :mod:`hierphase.bp_kernels`, parallel over blocks of samples, no
``(nodes, rules)`` intermediates) and ``"torch"`` (plain batched tensors, a readable reference).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

from .checks import check_int, check_int_array, check_memory, check_rules, check_seed
from .memory import bp_sweep_bytes, bp_trajectories_bytes
from .rhm import Rules, check_trees
from .seeding import derive_seed, torch_generator

__all__ = ["marginals", "class_posterior", "sample_posterior", "kept_observables", "sweep_bytes",
           "trajectories_bytes",
           "KeptObservables", "upward_messages", "posterior_uniforms", "compile_kernels",
           "BACKENDS", "BLOCK"]

BACKENDS = ("auto", "numba", "torch")

try:
    import numpy as _np

    from . import bp_kernels as _kernels
    from .bp_kernels import BLOCK

    _NUMBA_AVAILABLE = True
except ImportError:  # pragma: no cover - numba is a hard dependency, this keeps torch usable
    _NUMBA_AVAILABLE = False
    BLOCK = 0  #: no numba: no blocks


def _check_evidence(rules: Rules, log_evidence: torch.Tensor) -> torch.Tensor:
    check_rules(rules)
    try:
        ev = torch.as_tensor(log_evidence)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"log_evidence must be a float tensor, got {type(log_evidence).__name__}"
                        ) from err
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
    if not isinstance(backend, str) or backend not in BACKENDS:
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
    check_rules(rules)
    n = check_int(n, "n", 0)
    n_internal = (rules.d - 1) // (rules.s - 1)
    check_memory(8 * n * (1 + n_internal), "n", f"{n} rows of posterior uniforms")
    gen = torch_generator(derive_seed(check_seed(seed), "bp.sample_posterior"))
    n_internal = (rules.d - 1) // (rules.s - 1)
    return torch.rand((n, 1 + n_internal), generator=gen, dtype=torch.float64)


def marginals(rules: Rules, log_evidence: torch.Tensor, dtype: torch.dtype = torch.float64,
              backend: str = "auto") -> list[torch.Tensor]:
    """Exact posterior marginals: L+1 tensors (n, s**l, v_l) (``v_0 = n_classes``), rows sum to 1.

    ``log_evidence`` (n, d, v): per-leaf log-likelihoods (see :mod:`hierphase.noise`)."""
    ev = _check_evidence(rules, log_evidence)
    _check_dtype(dtype)
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
        root, ok = _kernels.nb_root(_ev_numpy(ev), tabs, n_par, rules.s, rules.L,
                                    max(rules.v, rules.n_classes), BLOCK, _workers())
        _raise_if_incompatible(ok, ev)
        return torch.from_numpy(root[:, : rules.n_classes])
    return upward_messages(rules, ev)[0][:, 0]


def compile_kernels() -> bool:
    """Compile the fused numba kernels (or load them from numba's on-disk cache) with a tiny model.

    The first call in a fresh checkout takes about 15 s of JIT compilation; numba then caches the
    machine code next to :mod:`hierphase.bp_kernels`. ``workflow/with-env.sh`` calls this once after installing,
    so that the workflow's parallel sweep jobs (and the tests) load the kernels instead of each
    compiling them. Returns whether the numba backend is available."""
    if not _NUMBA_AVAILABLE:
        return False
    from .rhm import sample_rules, sample_trees

    for s in (2, 3):
        rules = sample_rules(4, 2, s, 2, seed=0)
        trees = sample_trees(rules, 3, seed=0)
        ev = torch.nn.functional.one_hot(trees[-1], rules.v).to(torch.float64)
        marginals(rules, ev, backend="numba")
        sample_posterior(rules, ev, seed=0, backend="numba")
        kept_observables(rules, ev, trees, seed=0, backend="numba")
    return True


def sample_posterior(rules: Rules, log_evidence: torch.Tensor, seed: int,
                     dtype: torch.dtype = torch.float64, backend: str = "auto",
                     n_samples: int | None = None) -> list[torch.Tensor]:
    """Exact posterior samples with their whole latent trees. Deterministic in ``seed``.

    ``n_samples=None``: one sample per datum, L+1 LongTensors (n, s**l) like
    :func:`hierphase.rhm.sample_trees`. ``n_samples=k``: k independent samples per datum,
    L+1 LongTensors (n, k, s**l), from one upward pass per datum (the messages depend on the
    evidence only; each sample redraws the top-down pass). Sample ``j`` of datum ``i`` is exactly
    the single sample of row ``i * k + j`` of ``log_evidence.repeat_interleave(k, 0)`` with the
    same seed, at ``k`` times less upward work.
    """
    ev = _check_evidence(rules, log_evidence)
    _check_dtype(dtype)
    check_seed(seed)
    reps = 1 if n_samples is None else n_samples
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"n_samples must be None or an int >= 1, got {n_samples!r}")
    check_memory(8 * ev.shape[0] * reps * 2 * rules.d, "n_samples",
                 f"{reps} posterior samples of {ev.shape[0]} data")
    n = ev.shape[0]
    uniforms = posterior_uniforms(rules, n * reps, seed)
    if _resolve_backend(backend) == "numba" and dtype == torch.float64:
        levels = _sample_numba(rules, ev, uniforms, reps)
    else:
        rep_ev = ev if reps == 1 else ev.repeat_interleave(reps, 0)
        levels = _sample_torch(rules, rep_ev, uniforms, dtype)
    if n_samples is None:
        return levels
    return [x.view(n, reps, x.shape[1]) for x in levels]


class KeptObservables(NamedTuple):
    """Per level l = 0..L, float64 (n,) tensors: ``true_probability[l]``, the mean over the
    level's nodes of the posterior probability of the true latent; ``kept[l]``, the fraction of
    the level's latents that one posterior sample keeps."""
    true_probability: list[torch.Tensor]
    kept: list[torch.Tensor]


def _check_dtype(dtype) -> None:
    if not isinstance(dtype, torch.dtype) or dtype not in (torch.float64, torch.float32):
        raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype!r}")


def kept_observables(rules: Rules, log_evidence: torch.Tensor, trees: Sequence[torch.Tensor],
                     seed: int, dtype: torch.dtype = torch.float64,
                     backend: str = "auto") -> KeptObservables:
    """What a forward-backward sweep keeps of each datum, per level: the posterior probability of
    the true latents and the fraction one posterior sample keeps (:class:`KeptObservables`).

    ``trees``: the data's true latent trees (L+1 tensors (n, s**l), as from
    :func:`hierphase.rhm.sample_trees`). The numbers are exactly those of :func:`marginals`
    gathered at the true latents and of :func:`sample_posterior` with the same ``seed``; the
    numba backend gets them from one upward pass, a downward pass that keeps no marginals and
    the sample drawn from the same messages (no (n, nodes, v) array is written). The torch
    backend is the two-call reference. ``dtype=torch.float32`` runs the same algorithm in single
    precision (messages, marginals and sampling weights; the results are float64 tensors); its
    accuracy and speed are measured in ``benchmarks/bench_bp.py --case kept``."""
    from . import observables

    _check_dtype(dtype)
    ev = _check_evidence(rules, log_evidence)
    check_seed(seed)
    n = ev.shape[0]
    truth = check_trees(rules, trees, n)
    if _resolve_backend(backend) == "numba":
        tabs, n_par = _packed_tables(rules)
        flat_truth = torch.cat(truth, dim=1).contiguous().numpy()
        p_true, samples, ok = _kernels.nb_kept(_ev_numpy(ev, dtype), tabs, n_par, rules.s, rules.L,
                                               max(rules.v, rules.n_classes), flat_truth,
                                               posterior_uniforms(rules, n, seed).numpy(),
                                               BLOCK, _workers())
        _raise_if_incompatible(ok, ev)
        p_levels = _split_levels(rules, torch.from_numpy(p_true))
        sample_levels = _split_levels(rules, torch.from_numpy(samples))
    else:
        p_levels = observables.true_latent_probability(
            marginals(rules, ev, dtype=dtype, backend=backend), truth)
        sample_levels = sample_posterior(rules, ev, seed, dtype=dtype, backend=backend)
    return KeptObservables([p.to(torch.float64).mean(dim=1) for p in p_levels],
                           observables.kept_fraction(sample_levels, truth))


# ----------------------------------------------------------------------------- memory
def sweep_bytes(rules: Rules, batch_size: int) -> int:
    """Peak memory in bytes of a forward-backward sweep of ``rules`` in batches of ``batch_size``
    data (:func:`hierphase.memory.bp_sweep_bytes`, measured within a factor 2 in
    ``tests/test_hostile_memory.py``)."""
    check_rules(rules)
    return bp_sweep_bytes(rules.v, rules.s, rules.L, batch_size)


def trajectories_bytes(rules: Rules, n_traj: int, process: str) -> int:
    """Peak memory in bytes of the change correlations of one datum of ``rules`` with ``n_traj``
    forward-backward runs of ``process`` (:func:`hierphase.memory.bp_trajectories_bytes`,
    measured within a factor 2 in ``tests/test_hostile_memory.py``)."""
    check_rules(rules)
    return bp_trajectories_bytes(rules.v, rules.s, rules.L, n_traj, process)


# ----------------------------------------------------------------------------- numba backend
# The kernels live in :mod:`hierphase.bp_kernels`; here, packing their inputs and outputs.
def _packed_tables(rules: Rules):
    """(L, P_max, m, s) int64 array of all tables (zero-padded) and (L,) parents per level."""
    p_max = max(rules.v, rules.n_classes)
    tabs = _np.zeros((rules.L, p_max, rules.m, rules.s), dtype=_np.int64)
    n_par = _np.zeros(rules.L, dtype=_np.int64)
    for level, t in enumerate(rules.tables):
        tabs[level, : t.shape[0]] = t.numpy()
        n_par[level] = t.shape[0]
    return tabs, n_par


def _workers() -> int:
    """Parallel workers of the kernels: numba's thread count (``numba.set_num_threads``)."""
    import numba

    return numba.get_num_threads()


def _ev_numpy(ev: torch.Tensor, dtype: torch.dtype = torch.float64):
    return ev.detach().to(dtype).contiguous().numpy()


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
    """(n, nodes) values of all nodes in level order -> L+1 tensors (n, s**l)."""
    out, start = [], 0
    for level in range(rules.L + 1):
        nodes = rules.s**level
        out.append(flat[:, start:start + nodes].contiguous())
        start += nodes
    return out


def _marginals_numba(rules: Rules, ev: torch.Tensor) -> list[torch.Tensor]:
    tabs, n_par = _packed_tables(rules)
    vmax = max(rules.v, rules.n_classes)
    flat, status = _kernels.nb_marginals(_ev_numpy(ev), tabs, n_par, rules.s, rules.L, vmax, BLOCK,
                                         _workers())
    _raise_if_incompatible(status, ev)
    flat = torch.from_numpy(flat)
    n, out, start = ev.shape[0], [], 0
    for level in range(rules.L + 1):
        nodes = rules.s**level
        block = flat[n * vmax * start: n * vmax * (start + nodes)].view(n, nodes, vmax)
        out.append(block[..., : rules.n_symbols(level)].contiguous())  # no copy when v_l = vmax
        start += nodes
    return out


def _sample_numba(rules: Rules, ev: torch.Tensor, uniforms: torch.Tensor,
                  n_rep: int = 1) -> list[torch.Tensor]:
    tabs, n_par = _packed_tables(rules)
    # fewer data than a block (one datum with many samples): a block as small as the data keeps
    # each node's messages contiguous instead of one cache line per value; same numbers
    block = max(1, min(BLOCK, ev.shape[0]))
    out, ok = _kernels.nb_sample(_ev_numpy(ev), tabs, n_par, rules.s, rules.L,
                                 max(rules.v, rules.n_classes), uniforms.contiguous().numpy(), block,
                                 n_rep, _workers())
    _raise_if_incompatible(ok, ev)
    return _split_levels(rules, torch.from_numpy(out))
