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
picks, ``depth`` levels) ``eps*_r`` is where ``p_depth`` crosses ``threshold``: by default 1/2,
so that ``eps*_r`` is the half point of that RHM's exact-BP class curve at this depth with
infinitely many data (:func:`half_points`, root finding: the flow amplifies any offset by
``Lambda`` per level, so after ``depth`` levels the crossing pins ``eps*_r`` to about
``Lambda**-depth``). Like exact BP's half
point it lies below the infinite-depth ``eps*`` and approaches it like ``d**(-1/nu)``: the
replicas at several depths are extrapolated over the depth as the class curves are
(:func:`hierphase.stages.rhm.critical_estimates`). At ``eps*_r`` the messages linger near the
unstable fixed distribution; a small offset ``delta`` grows like ``Lambda**j`` there, so
``dp_j/d eps ~ B Lambda**j`` (central difference with step ``h``), fitted on the levels before
the escape: ``nu = log s / log Lambda``, the quenched counterpart of mean field's
``log s / log F'(p*)``, an effective value over the levels fitted. Statistical errors come from
independent replicas (:func:`replica_estimates`, :func:`summarise_replicas`); the spread of
``eps*_r`` between replicas is itself a result: the rules near the leaves shift where the flow
starts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from .controls import _check_int
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
    "half_points",
    "EXTRAPOLATION_COLUMNS",
    "extrapolate_replicas",
    "LOCAL_EXPONENT_COLUMNS",
    "local_exponents",
    "leaf_side",
    "WIDTH_COLUMNS",
    "replica_widths",
    "WIDTH_EXPONENT_COLUMNS",
    "width_exponents",
]


def _check_eps(eps) -> torch.Tensor:
    # a copy: a pandas column's array is read-only, which torch will not wrap
    e = torch.as_tensor(np.array(eps, dtype=np.float64).ravel())
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


#: The derivative's central-difference step and the plateau's escape fraction of
#: :func:`critical_point`, used alike by :func:`replica_estimates`.
_H, _ESCAPE = 1e-7, 0.25


def _threshold(v: int, threshold: float | None) -> float:
    """1/2 (exact BP's half point), or the midpoint of chance and 1 where chance is 1/2 or more."""
    if threshold is None:
        return 0.5 if v > 2 else 0.5 * (1 + 1 / v)
    return float(threshold)


def half_points(rules: Rules, n_per_value: int, seed: int, depths, *, bracket=(0.0, 1.0),
                threshold: float | None = None, tol: float = 1e-10,
                max_iter: int = 200) -> np.ndarray:
    """For each depth ``j`` of ``depths`` (1..L), the noise where ``p_j`` (:func:`overlaps`: the
    class kept of the RHM made of the ``j`` levels of ``rules`` nearest the leaves) crosses
    ``threshold`` (default 1/2: exact BP's half point at depth ``j`` with infinitely many data).
    One population run serves every depth: the same rules and picks (common random numbers),
    so the half points of one replica are smooth in ``j``. All roots are found together by
    regula falsi with the Illinois step (each iteration one :func:`overlaps` call with one noise
    value per depth) until the bracket is narrower than ``tol`` or the curve within 1e-13 of the
    threshold. A bracket whose ends do not straddle the threshold at some depth raises
    ValueError."""
    j = np.asarray([int(d) for d in depths])
    if j.size == 0 or (j < 1).any() or (j > rules.L).any():
        raise ValueError(f"depths must lie in 1..{rules.L}, got {list(depths)!r}")
    thr = _threshold(rules.v, threshold)
    cols = np.arange(j.size)

    def f(eps):
        return overlaps(rules, eps, n_per_value, seed)[j, cols] - thr

    a, b = (np.full(j.size, float(e)) for e in bracket)
    fa, fb = f(a), f(b)
    if not ((fa > 0) & (fb < 0)).all():
        bad = int(np.argmax(~((fa > 0) & (fb < 0))))
        raise ValueError(f"bracket {bracket} does not straddle the threshold {thr:.4g} at depth "
                         f"{j[bad]}: p - threshold = {fa[bad]:.4g}, {fb[bad]:.4g}")
    c = 0.5 * (a + b)
    last = np.zeros(j.size, dtype=int)  # which end moved last: -1 a, +1 b
    for _ in range(max_iter):
        done = (b - a < tol)
        c = np.where(done, c, b - fb * (b - a) / (fb - fa))
        fc = f(c)
        done |= np.abs(fc) < 1e-13
        if done.all():
            break
        low = (fc > 0) & ~done  # c replaces a
        high = (fc <= 0) & ~done  # c replaces b
        fb = np.where(low & (last == -1), 0.5 * fb, fb)  # Illinois: halve the end kept twice
        fa = np.where(high & (last == 1), 0.5 * fa, fa)
        a, fa = np.where(low, c, a), np.where(low, fc, fa)
        b, fb = np.where(high, c, b), np.where(high, fc, fb)
        last = np.where(low, -1, np.where(high, 1, last))
    return c


def critical_point(rules: Rules, n_per_value: int, seed: int, *, bracket=(0.0, 1.0),
                   threshold: float | None = None, tol: float = 1e-9, h: float = _H,
                   j_min: int = 3, escape: float = _ESCAPE) -> CriticalPoint:
    """``eps*`` of one replica, the root of ``p_L(eps) - threshold`` (``L = rules.L``;
    :func:`half_points`; ``threshold`` defaults to 1/2, exact BP's half point, or to the midpoint of chance ``1/v``
    and 1 where chance is 1/2 or more), then ``Lambda`` from
    ``dp_j/deps ~ B Lambda**j`` at ``eps*`` (central difference ``h``), fitted by least squares
    on ``j >= j_min`` up to the last level before ``p_j`` leaves the plateau (moves more than
    ``escape (1 - 1/v)`` from its median over the middle third of the levels) or the
    derivative stops growing (module docstring). Needs ``rules.n_classes == rules.v``.
    A bracket whose ends do not straddle the threshold raises ValueError."""
    if rules.n_classes != rules.v:
        raise ValueError("critical_point needs n_classes == v (every level alike)")
    eps_star = float(half_points(rules, n_per_value, seed, [rules.L], bracket=bracket,
                                 threshold=threshold, tol=tol)[0])
    return _growth(rules, n_per_value, seed, eps_star, h=h, j_min=j_min, escape=escape)


def _growth(rules: Rules, n_per_value: int, seed: int, eps_star: float, *, h: float,
            j_min: int, escape: float) -> CriticalPoint:
    """:func:`critical_point` at a given ``eps_star``: ``Lambda`` from the slopes' growth."""
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


def _replica_draw(v: int, m: int, s: int, L: int, seed: int, replica: int) -> tuple[Rules, int]:
    """Replica ``replica``'s rules (depth ``L``) and the seed of its picks."""
    rules = sample_rules(v, m, s, L, seed=derive_seed(int(seed), "population.rules", int(replica)))
    return rules, derive_seed(int(seed), "population.replica", int(replica))


def leaf_side(rules: Rules, depth: int) -> Rules:
    """The RHM made of the ``depth`` levels of ``rules`` nearest the leaves (``tables[-depth:]``,
    every level with ``v`` parents; needs ``n_classes == v`` where ``depth < L``). Its
    population run is the first ``depth`` levels of that of ``rules`` with the same picks:
    :func:`overlaps` draws them level by level from the leaves up."""
    depth = _check_int(depth, "depth", 1)
    if depth > rules.L:
        raise ValueError(f"depth must lie in 1..{rules.L}, got {depth}")
    if depth < rules.L and rules.n_classes != rules.v:
        raise ValueError("leaf_side needs n_classes == v (every level alike)")
    return dataclasses.replace(rules, L=depth, tables=rules.tables[rules.L - depth:])


#: What identifies a population: its point and size.
_POINT = ["v", "m", "s", "n_per_value"]

REPLICA_COLUMNS = ["v", "m", "s", "depth", "n_per_value", "replica", "eps_star", "log_lambda",
                   "log_lambda_err", "nu", "j_min", "j_max"]


def replica_estimates(v: int, m: int, s: int, *, depths, n_per_value: int,
                      replicas: Sequence[int], seed: int, bracket=(0.0, 1.0), tol: float = 1e-10,
                      j_min: int = 3) -> pd.DataFrame:
    """Per independent replica (rules of the deepest depth from ``derive_seed(seed,
    "population.rules", r)``, picks from ``derive_seed(seed, "population.replica", r)``) and
    depth of ``depths``: the half point at that depth (:func:`half_points`: one run, the rules
    nearest the leaves, for every depth), and at the deepest the growth of the slopes
    (:func:`critical_point`'s ``Lambda`` and ``nu``; NaN at the other depths). One row per
    (replica, depth) (:data:`REPLICA_COLUMNS`)."""
    depths = sorted({int(d) for d in depths})
    if not depths:
        raise ValueError("depths must name at least one depth")
    deepest = depths[-1]
    validate_params(v, m, s, deepest)
    rows = []
    for r in replicas:
        rules, picks = _replica_draw(v, m, s, deepest, seed, r)
        halves = half_points(rules, n_per_value, picks, depths, bracket=bracket, tol=tol)
        cp = _growth(rules, n_per_value, picks, float(halves[-1]), h=_H, j_min=j_min,
                     escape=_ESCAPE)
        for depth, half in zip(depths, halves):
            at = depth == deepest
            rows.append(dict(v=v, m=m, s=s, depth=depth, n_per_value=n_per_value,
                             replica=int(r), eps_star=float(half),
                             log_lambda=cp.log_lambda if at else np.nan,
                             log_lambda_err=cp.log_lambda_err if at else np.nan,
                             nu=cp.nu if at else np.nan, j_min=cp.levels[0] if at else np.nan,
                             j_max=cp.levels[1] if at else np.nan))
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


#: One row per (point, population size, fit) of :func:`extrapolate_replicas`.
EXTRAPOLATION_COLUMNS = ["v", "m", "s", "n_per_value", "fit", "n_replicas", "n_fitted",
                         "depth_min", "depth_max", "n_depths", "eps_star", "eps_star_err",
                         "nu", "nu_err"]


def extrapolate_replicas(replicas: pd.DataFrame) -> pd.DataFrame:
    """Each replica's half points over its depths extrapolated to infinite depth the way exact
    BP's are, then averaged over replicas (:data:`EXTRAPOLATION_COLUMNS`): ``half_points``,
    ``eps_half(j) = eps* + A d**(-1/nu)`` with ``d = s**j`` and nu free
    (:func:`hierphase.scaling.extrapolate_eps_star`, four depths or more), and
    ``half_points_corrected`` with the correction to scaling of the next order
    (:func:`hierphase.scaling.fit_with_correction`, five or more). A replica's half points come
    from one population run, so they are fitted unweighted and the errors are the standard
    errors of the mean over replicas (``n_fitted``: the replicas whose fit converged)."""
    from .scaling import extrapolate_eps_star, fit_with_correction

    rows = []
    for key, g in replicas.groupby(_POINT, sort=True):
        s = int(key[2])
        fits = {"half_points": [], "half_points_corrected": []}
        depths = np.sort(g["depth"].unique())
        for _, r in g.groupby("replica", sort=True):
            r = r.sort_values("depth")
            L, eps = r["depth"].to_numpy(float), r["eps_star"].to_numpy(float)
            plain = extrapolate_eps_star(L, eps, None, s=s)
            fits["half_points"].append((plain.eps_star, plain.nu))
            corrected = fit_with_correction(L, eps, None, s=s)
            fits["half_points_corrected"].append((corrected.offset, corrected.nu))
        for fit, values in fits.items():
            values = np.array([v for v in values if np.isfinite(v).all()]).reshape(-1, 2)
            n = len(values)
            mean = values.mean(axis=0) if n else (np.nan, np.nan)
            err = values.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else (np.nan, np.nan)
            rows.append(dict(zip(_POINT, key), fit=fit, n_replicas=int(g["replica"].nunique()),
                             n_fitted=n, depth_min=int(depths.min()), depth_max=int(depths.max()),
                             n_depths=len(depths), eps_star=float(mean[0]),
                             eps_star_err=float(err[0]), nu=float(mean[1]), nu_err=float(err[1])))
    return pd.DataFrame(rows, columns=EXTRAPOLATION_COLUMNS)


def _replica_grids(table: pd.DataFrame, values: str):
    """Per population (:data:`_POINT`): its key, ``s``, the column ``values`` as a replica x
    depth table, and the depths in order."""
    for key, g in table.groupby(_POINT, sort=True):
        wide = g.pivot_table(index="replica", columns="depth", values=values)
        yield key, int(key[2]), wide, sorted(int(d) for d in wide.columns)


def _mean_over_replicas(nu) -> dict:
    """``n_valid``, ``nu`` (the mean) and ``nu_err`` (its standard error) of per-replica values."""
    nu = np.asarray(nu, dtype=float)
    n = nu.size
    return {"n_valid": n, "nu": float(nu.mean()) if n else np.nan,
            "nu_err": float(nu.std(ddof=1) / math.sqrt(n)) if n > 1 else np.nan}


#: One row per (point, population size, window of three depths) of :func:`local_exponents`.
LOCAL_EXPONENT_COLUMNS = ["v", "m", "s", "n_per_value", "depth_a", "depth_b", "depth_c",
                          "n_replicas", "n_valid", "nu", "nu_err"]


def local_exponents(replicas: pd.DataFrame) -> pd.DataFrame:
    """The effective nu of the half points' approach to eps* over every window of three equally
    spaced depths ``a < b < c`` (``c - b = b - a = k``) among the replicas' depths
    (:data:`LOCAL_EXPONENT_COLUMNS`). If ``eps_half(j) = eps* - A s**(-j/nu)``, then
    ``(eps_half(b) - eps_half(a)) / (eps_half(c) - eps_half(b)) = s**(k/nu)`` whatever eps* and
    A, so each replica gives ``nu = k log s / log`` of that ratio with nothing fitted; a replica
    whose half points do not rise over the window, or rise faster at its end, gives none
    (``n_valid`` counts those that do). Mean and standard error over replicas. With corrections
    to scaling the value moves with the window; whether it has stopped moving at the deepest
    windows says whether the depths reach the asymptotic nu."""
    rows = []
    for key, s, wide, depths in _replica_grids(replicas, "eps_star"):
        have = set(depths)
        for a in depths:
            for b in depths:
                c = 2 * b - a
                if b <= a or c not in have:
                    continue
                rise, last = wide[b] - wide[a], wide[c] - wide[b]
                ok = (rise > 0) & (last > 0) & (rise > last)
                nu = (b - a) * math.log(s) / np.log((rise[ok] / last[ok]).to_numpy(float))
                rows.append(dict(zip(_POINT, key), depth_a=a, depth_b=b, depth_c=c,
                                 n_replicas=len(wide), **_mean_over_replicas(nu)))
    return pd.DataFrame(rows, columns=LOCAL_EXPONENT_COLUMNS)


#: One row per (replica, depth) of :func:`replica_widths`.
WIDTH_COLUMNS = ["v", "m", "s", "depth", "n_per_value", "replica", "eps_90", "eps_10", "width"]


def replica_widths(v: int, m: int, s: int, *, depths, width_depths, n_per_value: int,
                   replicas: Sequence[int], seed: int, bracket=(0.0, 1.0),
                   tol: float = 1e-10) -> pd.DataFrame:
    """The class curve's width at each depth of ``width_depths``, per replica: the same rules
    and picks as :func:`replica_estimates` with the same ``depths`` and ``seed`` (the rules are
    drawn at the deepest of ``depths`` and ``width_depths``), each depth run only up to its own
    level (:func:`leaf_side`: the same numbers as the levels nearest the leaves of one deep run,
    at about half its cost over depths 4..24). ``eps_90`` and ``eps_10`` are where the normalised class kept,
    ``(p_j - 1/v) / (1 - 1/v)``, crosses 0.9 and 0.1 (:func:`half_points` at those thresholds),
    as :func:`hierphase.finite_size.curve_points` reads exact BP's curves; ``width = eps_10 -
    eps_90``. One row per (replica, depth) (:data:`WIDTH_COLUMNS`)."""
    width_depths = sorted({int(d) for d in width_depths})
    if not width_depths:
        raise ValueError("width_depths must name at least one depth")
    drawn = max([*(int(d) for d in depths), width_depths[-1]])
    validate_params(v, m, s, drawn)
    chance = 1.0 / v
    rows = []
    for r in replicas:
        rules, picks = _replica_draw(v, m, s, drawn, seed, r)
        for depth in width_depths:
            e90, e10 = (float(half_points(leaf_side(rules, depth), n_per_value, picks, [depth],
                                          bracket=bracket, threshold=chance + q * (1 - chance),
                                          tol=tol)[0]) for q in (0.9, 0.1))
            rows.append(dict(v=v, m=m, s=s, depth=depth, n_per_value=n_per_value, replica=int(r),
                             eps_90=e90, eps_10=e10, width=e10 - e90))
    return pd.DataFrame(rows, columns=WIDTH_COLUMNS)


#: One row per (point, population size, range of width depths) of :func:`width_exponents`.
WIDTH_EXPONENT_COLUMNS = ["v", "m", "s", "n_per_value", "depth_min", "depth_max", "n_depths",
                          "n_replicas", "n_valid", "width", "nu", "nu_err"]


def width_exponents(widths: pd.DataFrame) -> pd.DataFrame:
    """nu from the class curve's width over every range of consecutive width depths
    (:data:`WIDTH_EXPONENT_COLUMNS`), fitted as exact BP's widths are
    (``width = B d**(-1/nu)``, ``d = s**j``): per replica the least-squares slope of
    ``log width`` against ``j log s`` over the range (two depths: the line through them),
    ``nu = -1 / slope``; mean and standard error over the replicas whose widths are all
    positive and fall with depth (``n_valid``). ``width``: the mean width at ``depth_max``.
    One population run gives a replica's widths at every depth, so the depths of one replica
    are not independent and the error is the replicas' scatter."""
    rows = []
    for key, s, wide, depths in _replica_grids(widths, "width"):
        for i, lo in enumerate(depths):
            for hi in depths[i + 1:]:
                span = [d for d in depths if lo <= d <= hi]
                w = wide[span].to_numpy(float)
                x = np.asarray(span, dtype=float) * math.log(s)
                ok = (w > 0).all(axis=1)
                y = np.log(np.where(ok[:, None], w, 1.0))
                slope = ((y - y.mean(axis=1, keepdims=True)) @ (x - x.mean())
                         / np.sum((x - x.mean()) ** 2))
                ok &= slope < 0
                rows.append(dict(zip(_POINT, key), depth_min=lo, depth_max=hi,
                                 n_depths=len(span), n_replicas=len(wide),
                                 width=float(wide[hi].mean()),
                                 **_mean_over_replicas(-1.0 / slope[ok])))
    return pd.DataFrame(rows, columns=WIDTH_EXPONENT_COLUMNS)
