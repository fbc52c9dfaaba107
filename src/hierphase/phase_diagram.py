"""Phase diagram of the RHM over (v, m, s): where the class transition exists, mean field against
exact belief propagation.

Mean field (:mod:`hierphase.theory`): the class is recovered from arbitrarily deep trees below a
noise ``eps*`` iff the fixed point ``p = 1`` of the upward map ``F`` is stable,
``s m (v-1)/(v^s-1) < 1``, that is ``m < m_c(v) = (v^s-1)/(s(v-1))`` (:func:`boundary_m`;
``(v+1)/2`` at ``s = 2``, ``(v^2+v+1)/3`` at ``s = 3``); ``eps*`` then comes from the unstable fixed
point ``p*`` below it (``p* = (m-1)/(v-m)`` at ``s = 2``). When ``p = 1`` is stable and no fixed
point lies between ``1/v`` and 1 (``m = 1``, and ``m = 2`` at small ``v`` for ``s = 3``), the
unstable point is ``1/v`` itself: every noise below 1 is recovered, ``eps* = 1``
(:func:`mean_field_point` says so, with no ``nu``: the slope ``F'(1/v)`` there describes no
transition between two phases; :func:`hierphase.theory.critical_noise` returns None there).

Exact BP (:func:`phase_diagram_table`): the class curves of one (v, m, s) at several depths L
(:func:`hierphase.stages.rhm.phase_point_sweep`) give

* ``eps_half_bp``: where the class kept at the largest L falls through 1/2, with its standard
  error (:func:`hierphase.scaling.half_point_error`);
* ``eps_star_bp_extrapolated``, ``err``: ``eps_half(L) = eps* + A (s^L)^(-1/nu)`` fitted over the
  depths (:func:`hierphase.scaling.extrapolate_eps_star`), ``nu`` held at the mean-field value where
  mean field has a transition, fitted otherwise (NaN with fewer than four depths); NaN where BP
  sees no transition (the form assumes one);
* ``has_transition_bp``: **the deepest tree keeps the class significantly more often than the
  shallowest at some noise** (their Wilson intervals on the sampled class kept do not overlap),
  among the noise values where the shallowest keeps it at least halfway between chance and
  certainty (``(1 + 1/n_classes)/2``; at chance both differ by sampling noise only).
  The reason: information about the class grows with depth only when ``p = 1`` attracts. In mean
  field ``F^L(p_L)`` increases with L for every ``eps < eps*`` (``F(p) > p`` on ``(p*, 1)``) and
  decreases with L at every noise when there is no transition (``F(p) < p`` on ``(1/v, 1)``). The
  half point alone cannot decide: it converges to ``eps*`` from below when ``p* < 1/2`` and from
  above when ``p* > 1/2`` (``m > (v+2)/3`` at ``s = 2``), so a drift down is no proof of absence.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from hierphase import scaling, theory
from hierphase.params import validate_params
from hierphase.tables import PHASE_DIAGRAM_COLUMNS

__all__ = [
    "MeanFieldPoint",
    "mean_field_point",
    "boundary_m",
    "grid_points",
    "deeper_keeps_more",
    "phase_diagram_table",
]


class MeanFieldPoint(NamedTuple):
    """Mean field at one (v, m, s): whether the class survives deep trees below some noise, the
    unstable fixed point ``p_star`` of the upward map, ``eps_star`` and ``nu`` (NaN without)."""

    has_transition: bool
    p_star: float
    eps_star: float
    nu: float


def mean_field_point(v: int, m: int, s: int) -> MeanFieldPoint:
    """The transition of mean field at (v, m, s): ``p = 1`` stable and an unstable fixed point
    ``p*`` below it, the edge of the basin of ``p = 1`` (the highest fixed point in ``[1/v, 1)``
    where ``F' > 1``, ``1/v`` included: then ``eps* = 1``); ``eps* = (1 - p*)/(1 - 1/v)``,
    ``nu = log s / log F'(p*)``, NaN where ``p* = 1/v`` (``eps* = 1``, the edge: above it no
    noise is left to lose the class by, so no scaling on both sides to define an exponent)."""
    validate_params(v, m, s, L=1)
    if not theory.one_is_stable(v, m, s):
        return MeanFieldPoint(False, math.nan, math.nan, math.nan)
    unstable = [p for p in theory.fixed_points(v, m, s)[:-1] if theory.F_prime(p, v, m, s) > 1]
    if not unstable:  # pragma: no cover - F goes from below to above the diagonal: impossible
        return MeanFieldPoint(False, math.nan, math.nan, math.nan)
    p = float(unstable[-1])
    if math.isclose(p, 1 / v, rel_tol=0, abs_tol=1e-12):
        # eps* = 1: the transition sits at the edge, where the leaves carry no information;
        # F'(1/v) describes no approach from both sides and no finite-size scaling, so no nu
        return MeanFieldPoint(True, p, 1.0, math.nan)
    slope = float(theory.F_prime(p, v, m, s))
    return MeanFieldPoint(True, p, (1 - p) / (1 - 1 / v), math.log(s) / math.log(slope))


def boundary_m(v, s: int):
    """Mean field's line in the (v, m) plane: a transition iff ``m < m_c = (v^s-1)/(s(v-1))``.
    Array-friendly in ``v``."""
    v = np.asarray(v, dtype=float)
    return (v**s - 1) / (s * (v - 1))


def grid_points(grids: Sequence[dict]) -> list[tuple[int, int, int]]:
    """The (s, v, m) points of the config's grids (each ``{s, v: [...], m: [...] or "all"}``;
    ``"all"`` is every m from 1 to ``v^(s-1)``), sorted, each once."""
    points = set()
    for grid in grids:
        s = int(grid["s"])
        for v in grid["v"]:
            ms = range(1, int(v) ** (s - 1) + 1) if grid["m"] == "all" else grid["m"]
            points.update((s, int(v), int(m)) for m in ms)
    return sorted(points)


def deeper_keeps_more(shallow: pd.DataFrame, deep: pd.DataFrame,
                      floor: float = 0.0) -> tuple[bool, float]:
    """Whether the class curve ``deep`` (rows of one depth: ``noise``, ``kept_sampled``,
    ``ci_low``, ``ci_high``) lies significantly above ``shallow`` (``deep``'s interval entirely
    above ``shallow``'s) at some noise where ``shallow`` keeps the class at least ``floor`` of the
    time, and the largest such gap in kept (0 if none). The floor leaves out the noise where both
    sit at chance and differ by sampling noise only."""
    both = shallow.merge(deep, on="noise", suffixes=("_a", "_b"))
    above = (both["ci_low_b"] > both["ci_high_a"]) & (both["kept_sampled_a"] >= floor)
    gap = (both["kept_sampled_b"] - both["kept_sampled_a"])[above]
    return bool(above.any()), float(gap.max()) if above.any() else 0.0


def _point_row(curves: pd.DataFrame, v: int, m: int, s: int, n_classes: int) -> dict:
    """One row of the phase diagram from the class curves of one (v, m, s) at every depth."""
    mf = mean_field_point(v, m, s)
    depths = sorted(int(L) for L in curves["L"].unique())
    halves, errors = [], []
    for L in depths:
        c = curves[curves["L"] == L].sort_values("noise")
        half, err = scaling.half_point_error(c["noise"], c["kept_sampled"], c["ci_low"],
                                             c["ci_high"])
        halves.append(half)
        errors.append(err)
    shallow = curves[curves["L"] == depths[0]]
    deep = curves[curves["L"] == depths[-1]]
    # only where the class is kept at least halfway between chance and certainty
    floor = (1 + 1 / n_classes) / 2
    transition, gap = (deeper_keeps_more(shallow, deep, floor) if len(depths) > 1
                       else (False, 0.0))
    # the finite-size form assumes a transition: no extrapolation where BP sees none
    fit = scaling.extrapolate_eps_star(np.array(depths, dtype=float),
                                       np.array(halves) if transition else np.full(len(depths), np.nan),
                                       np.array(errors), s=s,
                                       nu=mf.nu if mf.has_transition and np.isfinite(mf.nu) else None)
    return {
        "v": v, "m": m, "s": s, "n_classes": n_classes,
        "eps_star_mf": mf.eps_star, "eps_half_bp": halves[-1], "L": depths[-1],
        "eps_star_bp_extrapolated": float(fit.eps_star), "err": float(fit.eps_star_err),
        "has_transition_mf": mf.has_transition, "has_transition_bp": transition,
        "p_star_mf": mf.p_star, "nu_mf": mf.nu, "eps_half_bp_err": errors[-1],
        "nu_bp": float(fit.nu), "nu_bp_err": float(fit.nu_err), "depth_gain": gap,
        "m_c_mf": float(boundary_m(v, s)),
        "L_values": " ".join(str(L) for L in depths),
        "eps_half_by_L": " ".join(f"{h:.6g}" for h in halves),
    }


def phase_diagram_table(kept: pd.DataFrame) -> pd.DataFrame:
    """The ``phase_diagram`` table (:data:`hierphase.tables.PHASE_DIAGRAM_COLUMNS`), one row per
    (s, v, m) of ``kept`` (the phase-diagram sweeps: :data:`hierphase.tables.PHASE_KEPT_COLUMNS`,
    epsilon-process), from its class rows (level 0) pooled over rule draws, sorted by (s, v, m)."""
    from hierphase.pooling import pool_rule_seeds

    keys = ["s", "v", "m", "n_classes"]
    rows = []
    for (s, v, m, n_classes), point in kept[kept["level"] == 0].groupby(keys, sort=True):
        curves = pool_rule_seeds(point[point["process"] == "epsilon"])
        rows.append(_point_row(curves, int(v), int(m), int(s), int(n_classes)))
    table = pd.DataFrame(rows, columns=PHASE_DIAGRAM_COLUMNS)
    return table.sort_values(["s", "v", "m"], kind="mergesort").reset_index(drop=True)
