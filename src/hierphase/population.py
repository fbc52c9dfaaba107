"""Population dynamics (density evolution) of BP's upward messages over random RHM rules.

The exact-BP class curve of a depth-L RHM is the mean, over data, of the posterior probability
of the true class. On a tree, the subtrees under the children of a node are independent given
the node's value and its rule, so the law of the upward message of a level-``l`` node *given
its value* ``a`` is built from the laws at level ``l + 1``: draw one of ``a``'s ``m`` rules
uniformly, for each of its ``s`` children (values ``b_j``) draw an independent message from the
law of level ``l + 1`` given ``b_j``, and combine them as BP does,
``mu(a') ∝ sum over the rules (b'_1..b'_s) of a' of prod_j mu_j(b'_j)``. Density evolution holds
each law as a population: ``n_per_value`` messages per value (a ``(v, n_per_value, v)`` array;
the root level has ``n_classes`` values). Leaves start from the epsilon-process evidence,
``1 - eps + eps/v`` on the true symbol and ``eps/v`` elsewhere (one message per value). With the
rule tables of a given RHM this is exact up to the finite population (the mean of the root
population equals exact BP's class curve averaged over data, for those rules); with rules drawn
afresh it samples the quenched ensemble, the rules of each level shared by all its nodes as in
one RHM, unlike the annealed mean field of :mod:`hierphase.theory`, which replaces every wrong
symbol's weight by its average.

Observables (:func:`overlaps`): after ``j`` levels, the mean weight of a message on its true
value, ``p_j`` (at the root of a depth-``j`` tree: the class kept). Every random choice (rules,
the children's picks) comes from the seed and not from ``eps``: the curves are smooth in ``eps``
(common random numbers), so the critical noise of one replica is a root-finding problem and
its derivative a finite difference.

Critical point (:func:`critical_point`). Above a critical noise the messages flow to chance
(``p -> 1/v``), below it to certainty (``p -> 1``). For one replica (one draw of rules and
picks, ``depth`` levels) ``eps*_r`` is where ``p_depth`` crosses ``threshold`` (bisection: the
flow amplifies any offset by ``Lambda`` per level, so after ``depth`` levels the crossing pins
``eps*_r`` to about ``Lambda**-depth``). At ``eps*_r`` the messages linger near the unstable
fixed distribution; a small offset ``delta`` grows like ``Lambda**j`` there, so
``dp_j/d eps ~ B Lambda**j`` (central difference with step ``h``), fitted on the levels before
the escape: ``nu = log s / log Lambda``, the quenched counterpart of mean field's
``log s / log F'(p*)``. Statistical errors come from independent replicas
(:func:`replica_estimates`, :func:`summarise_replicas`); the spread of ``eps*_r`` between
replicas is itself a result: the rules near the leaves shift where the flow starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from .controls import _bisect, _check_int
from .params import validate_params
from .rhm import Rules, sample_rules
from .seeding import derive_seed, torch_generator

__all__ = [
    "leaf_population",
    "step",
    "overlaps",
    "critical_point",
    "CriticalPoint",
    "REPLICA_COLUMNS",
    "replica_estimates",
    "SUMMARY_COLUMNS",
    "summarise_replicas",
]


def _check_eps(eps) -> torch.Tensor:
    e = torch.as_tensor(np.asarray(eps, dtype=np.float64).ravel())
    if e.numel() == 0 or not bool(((e >= 0) & (e <= 1)).all()):
        raise ValueError(f"eps must be values in [0, 1], got {eps!r}")
    return e


def leaf_population(eps, v: int) -> torch.Tensor:
    """Leaf messages ``(n_eps, v, 1, v)``: for value ``b``, ``1 - eps + eps/v`` at ``b`` and
    ``eps/v`` elsewhere (one member per value: every leaf of that value has it)."""
    e = _check_eps(eps)
    v = _check_int(v, "v", 2)
    msg = (e / v)[:, None, None, None].expand(-1, v, 1, v).clone()
    idx = torch.arange(v)
    msg[:, idx, 0, idx] = (1 - e + e / v)[:, None]
    return msg


def step(children: torch.Tensor, table: torch.Tensor, n_per_value: int,
         gen: torch.Generator) -> torch.Tensor:
    """One level up. ``children``: messages ``(n_eps, v, n_child, v)`` given the child's value;
    ``table``: rules ``(n_parents, m, s)`` of child values. Returns ``(n_eps, n_parents,
    n_per_value, v)``, normalised. The picks (rule, children's members) come from ``gen``
    and are the same for every eps."""
    n_eps, v, n_child, _ = children.shape
    n_parents, m, s = table.shape
    rule = torch.randint(m, (n_parents, n_per_value), generator=gen)
    values = table[torch.arange(n_parents)[:, None], rule]  # (n_parents, n_per, s)
    members = torch.randint(n_child, (n_parents, n_per_value, s), generator=gen)
    flat_rules = table.reshape(n_parents * m, s)  # every (a', k') rule of the level
    out = None
    for j in range(s):
        picked = children[:, values[..., j], members[..., j]]  # (n_eps, n_parents, n_per, v)
        term = picked[..., flat_rules[:, j]]  # weight of each rule's j-th child
        out = term if out is None else out * term
    weights = out.reshape(n_eps, n_parents, n_per_value, n_parents, m).sum(-1)
    return weights / weights.sum(-1, keepdim=True)


def _tables(rules: Rules) -> list[torch.Tensor]:
    return [t.long() for t in rules.tables]


def overlaps(rules: Rules, eps, n_per_value: int, seed: int,
             dtype: torch.dtype = torch.float64) -> np.ndarray:
    """Mean weight on the true value after ``j = 0..L`` levels (``(L + 1, n_eps)``; ``j = 0``:
    the leaves, ``j = L``: the root's class kept), for the rule tables of ``rules`` used from
    the leaves up (``tables[L-1]`` first). ``n_per_value`` messages per value; picks from
    ``seed``."""
    n_per_value = _check_int(n_per_value, "n_per_value", 1)
    msg = leaf_population(eps, rules.v).to(dtype)
    gen = torch_generator(derive_seed(int(seed), "population.picks"))
    out = [_true_weight(msg)]
    for table in reversed(_tables(rules)):
        msg = step(msg, table, n_per_value, gen)
        out.append(_true_weight(msg))
    return np.stack(out)


def _true_weight(msg: torch.Tensor) -> np.ndarray:
    idx = torch.arange(msg.shape[1])
    return msg[:, idx, :, idx].mean(dim=(0, 2)).numpy() if msg.shape[1] == msg.shape[3] else \
        np.full(msg.shape[0], np.nan)


class CriticalPoint(NamedTuple):
    """One replica's critical noise and slope growth (:func:`critical_point`)."""

    eps_star: float
    log_lambda: float  # slope of log(dp_j/deps) against j
    log_lambda_err: float  # its least-squares standard error
    nu: float  # log s / log Lambda
    levels: tuple[int, int]  # the j fitted
    derivative: np.ndarray  # dp_j/deps at eps*, j = 0..depth
    overlap: np.ndarray  # p_j at eps*


def critical_point(rules: Rules, n_per_value: int, seed: int, *, bracket=(0.0, 1.0),
                   threshold: float | None = None, tol: float = 1e-9, h: float = 1e-7,
                   j_min: int = 3, escape: float = 0.25) -> CriticalPoint:
    """``eps*`` of one replica by bisection of ``p_L(eps) - threshold`` (``L = rules.L``;
    ``threshold`` defaults to the midpoint of chance ``1/v`` and 1), then ``Lambda`` from
    ``dp_j/deps ~ B Lambda**j`` at ``eps*`` (central difference ``h``), fitted by least squares
    on ``j >= j_min`` up to the last level before ``p_j`` leaves the plateau (moves more than
    ``escape (1 - 1/v)`` from its median over the middle third of the levels) or the
    derivative stops growing (module docstring). Needs ``rules.n_classes == rules.v``.
    A bracket whose ends do not straddle the threshold raises ValueError."""
    if rules.n_classes != rules.v:
        raise ValueError("critical_point needs n_classes == v (every level alike)")
    lo, hi = (float(b) for b in bracket)
    thr = 0.5 * (1 + 1 / rules.v) if threshold is None else float(threshold)

    def f(e):
        return float(overlaps(rules, [e], n_per_value, seed)[-1, 0]) - thr

    f_lo, f_hi = f(lo), f(hi)
    if not (f_lo > 0 > f_hi):
        raise ValueError(f"bracket {bracket} does not straddle the threshold {thr:.4g}: "
                         f"p_L - threshold = {f_lo:.4g}, {f_hi:.4g}")
    eps_star = _bisect(f, lo, hi, tol)
    p = overlaps(rules, [eps_star - h, eps_star, eps_star + h], n_per_value, seed)
    deriv = (p[:, 0] - p[:, 2]) / (2 * h)
    centre = p[:, 1]
    # the plateau: levels where p_j stays near the lingering value (the median of the middle)
    plateau = np.median(centre[len(centre) // 3: 2 * len(centre) // 3])
    near = np.abs(centre - plateau) < escape * abs(1 - 1 / rules.v)
    j = np.arange(len(centre))
    end = j_min
    while end + 1 < len(centre) and near[end + 1] and deriv[end + 1] > 0:
        end += 1
    use = (j >= j_min) & (j <= end) & (deriv > 0)
    if use.sum() < 3:
        return CriticalPoint(eps_star, np.nan, np.nan, np.nan, (j_min, end), deriv, centre)
    x, y = j[use].astype(float), np.log(deriv[use])
    X = np.column_stack([np.ones_like(x), x])
    beta, res, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = len(x) - 2
    s2 = float(np.sum((y - X @ beta) ** 2) / dof) if dof > 0 else np.nan
    err = float(np.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1])) if dof > 0 else np.nan
    log_lam = float(beta[1])
    nu = math.log(rules.s) / log_lam if log_lam > 0 else np.nan
    return CriticalPoint(eps_star, log_lam, err, nu, (j_min, end), deriv, centre)


REPLICA_COLUMNS = ["v", "m", "s", "depth", "n_per_value", "replica", "eps_star", "log_lambda",
                   "log_lambda_err", "nu", "j_min", "j_max"]


def replica_estimates(v: int, m: int, s: int, *, depth: int, n_per_value: int,
                      replicas: Sequence[int], seed: int, bracket=(0.0, 1.0), tol: float = 1e-9,
                      j_min: int = 3) -> pd.DataFrame:
    """:func:`critical_point` for independent replicas (rules from
    ``derive_seed(seed, "population.rules", r)``, picks from ``derive_seed(seed,
    "population.replica", r)``), one row each (:data:`REPLICA_COLUMNS`)."""
    validate_params(v, m, s, depth)
    rows = []
    for r in replicas:
        rules = sample_rules(v, m, s, depth, seed=derive_seed(int(seed), "population.rules", int(r)))
        cp = critical_point(rules, n_per_value, derive_seed(int(seed), "population.replica", int(r)),
                            bracket=bracket, tol=tol, j_min=j_min)
        rows.append(dict(v=v, m=m, s=s, depth=depth, n_per_value=n_per_value, replica=int(r),
                         eps_star=cp.eps_star, log_lambda=cp.log_lambda,
                         log_lambda_err=cp.log_lambda_err, nu=cp.nu, j_min=cp.levels[0],
                         j_max=cp.levels[1]))
    return pd.DataFrame(rows, columns=REPLICA_COLUMNS)


SUMMARY_COLUMNS = ["v", "m", "s", "depth", "n_per_value", "n_replicas", "eps_star",
                   "eps_star_err", "eps_star_spread", "log_lambda", "log_lambda_err", "nu",
                   "nu_err"]


def summarise_replicas(replicas: pd.DataFrame) -> pd.DataFrame:
    """Per (v, m, s, depth, n_per_value): the mean of ``eps*_r`` over replicas with its
    standard error (``eps_star_err``) and standard deviation (``eps_star_spread``), the mean
    ``log Lambda`` with its standard error, and ``nu = log s / mean log Lambda`` with the error
    propagated (:data:`SUMMARY_COLUMNS`). Errors NaN with one replica."""
    rows = []
    for key, g in replicas.groupby(["v", "m", "s", "depth", "n_per_value"], sort=True):
        n = len(g)
        e = g["eps_star"].to_numpy(float)
        ll = g["log_lambda"].to_numpy(float)
        ll = ll[np.isfinite(ll)]
        mean_ll = float(ll.mean()) if ll.size else np.nan
        ll_err = float(ll.std(ddof=1) / math.sqrt(ll.size)) if ll.size > 1 else np.nan
        s = key[2]
        nu = math.log(s) / mean_ll if mean_ll > 0 else np.nan
        rows.append(dict(zip(["v", "m", "s", "depth", "n_per_value"], key), n_replicas=n,
                         eps_star=float(e.mean()),
                         eps_star_err=float(e.std(ddof=1) / math.sqrt(n)) if n > 1 else np.nan,
                         eps_star_spread=float(e.std(ddof=1)) if n > 1 else np.nan,
                         log_lambda=mean_ll, log_lambda_err=ll_err, nu=nu,
                         nu_err=nu * ll_err / mean_ll if mean_ll > 0 else np.nan))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
