"""Annealed mean-field theory of BP denoising on the RHM under the epsilon-process.

The derivation, step by step, is in ``docs/science.md`` (mean-field section); in short:

Let ``p_l`` be the weight a level-``l`` **upward** message puts on the true symbol (messages off
the true symbol are taken uniform: the annealed approximation, averaging over random rules). One
level up, with ``P`` parent values (``v``, or ``n_classes`` at the root)::

    F(p) = [p^s + c (1 - p^s)] / [p^s + f (1 - p^s)],  c = (m-1)/(v^s-1),  f = (m P - 1)/(v^s-1)

Leaves start at ``p_L = 1 - eps (1 - 1/v)``; the class reconstruction is ``p_0 = F^L(p_L)``.

Per-level curve (:func:`level_reconstruction`): the mean-field value of the *posterior marginal*
at the true latent of level ``l``, i.e. the probability that a forward-backward sample keeps it.
It combines the upward weight ``p_l`` with the weight ``q_l`` of the **downward** message (context
from above), computed in the same annealed way top-down from the uniform root prior::

    q_{l+1} = [q p^{s-1} + A (1 - p^{s-1})/(v^s-1)] / [q p^{s-1} + A (v - p^{s-1})/(v^s-1)],
    A = (m-1) q + m (1-q),   q = q_l,  p = p_{l+1}  (siblings' upward weight)
    r_l = p_l q_l / [p_l q_l + (1-p_l)(1-q_l)/(P_l - 1)]

At the root ``q_0 = 1/n_classes`` and ``r_0 = p_0``. The downward term is what keeps low levels
smooth: their marginal uses context from above and never has a step.

Pair changes (:func:`pair_change`)
----------------------------------
A forward-backward run under the epsilon-process is one exact posterior sample, drawn top-down:
the class from its marginal, then at each node, given its sampled value ``a'``, one rule of
``a'`` with probability proportional to the product of its children's upward messages at the
rule's tuple. The theory follows only the *status* of each node: **kept** (sampled value = true
value) or **changed**. A site changes (``sigma = +1``) exactly when it is not kept.

1. *What a rule weighs.* The children (level ``l+1``) have upward weight ``p = p_{l+1}`` on their
   true symbol and, annealed, ``(1-p)/(v-1)`` on each other one. Let ``t`` be the true tuple. A
   tuple that agrees with ``t`` exactly on the positions ``S`` weighs
   ``p^|S| ((1-p)/(v-1))^(s-|S|)``; the ``(v-1)^(s-|S|)`` tuples of that agreement pattern weigh
   ``p^|S| (1-p)^(s-|S|)`` together, ``1 - p^s`` over all patterns but "all agree".
2. *Kept parent.* Its rules are ``t`` (weight ``p^s``) and ``m-1`` others, annealed uniform over
   the ``v^s - 1`` other tuples: expected weight ``c p^|S| (1-p)^(s-|S|)`` per pattern,
   ``c = (m-1)/(v^s-1)``, in all ``Z_K = p^s + c (1 - p^s)`` (the numerator of ``F``). So with
   probability ``g = p^s / Z_K`` it picks its true rule and keeps every child; otherwise its
   children are kept independently with probability ``p`` each, conditioned on not all kept.
3. *Changed parent.* Its value ``b != a`` has ``m`` rules, none equal to ``t`` (the grammar is
   unambiguous: ``t`` has one parent), annealed uniform over the other tuples: expected weight
   ``m p^|S| (1-p)^(s-|S|)/(v^s-1)``, in all ``Z_C = m (1-p^s)/(v^s-1)``. ``m`` cancels: the
   children are kept independently with probability ``p``, conditioned on not all kept.
   *What this assumes.* A changed node does not regenerate its subtree from scratch. A given
   wrong ``b`` has a rule that reuses a given true child with probability about ``m/v`` only;
   but the wrong value is itself drawn in proportion to its upward weight ``Z_b``, so the values
   whose rules reuse true children (where the evidence below is sharp) are the ones drawn. The
   annealed average takes the ratio of the weights summed over the ``v-1`` wrong values (not the
   average of a ratio per value), which is sound when that sum self-averages (large ``v``), and
   it forgets *which* wrong value was drawn: a changed node's children depend only on its being
   wrong and on their own evidence. A child of a changed parent is then kept with probability
   ``T_C = p (1 - p^(s-1)) / (1 - p^s)``: ``(s-1)/s`` when the evidence is sharp (``p -> 1``, the
   wrong parent that fits best shares ``s-1`` children with the truth), ``(v^(s-1)-1)/(v^s-1)``,
   about chance, when it is void (``p = 1/v``: a different parent produces different children).
4. *One node.* A child is kept with probability ``T_K = [p^s + c p (1-p^(s-1))] / Z_K`` under a
   kept parent and ``T_C`` under a changed one. With ``r_l = q_l Z_K / (q_l Z_K + (1-q_l) Z_C)``
   (this is the ``r_l`` above, since ``p_l = F(p_{l+1}) = Z_K / (Z_K + (v-1) Z_C)``), the
   downward step above is, term for term, ``r_{l+1} = r_l T_K + (1 - r_l) T_C``: the status chain
   started at ``r_0 = p_0`` reproduces :func:`level_reconstruction` at every level. A leaf
   changes with probability ``1 - r_L``, the mean-field posterior mass off the true leaf.
5. *Two nodes.* Nodes ``i, j`` of level ``λ`` at tree distance ``k >= 1`` have their lowest
   common ancestor at level ``a = λ - k`` and descend from two different children of it. Given
   those two children's statuses the subtrees below them are sampled independently (exact given
   their values; here given their statuses), so with ``p = p_{a+1}``::

       P(both change) = sum_{x, y in {K, C}} J_a(x, y) h_{a+1}(x) h_{a+1}(y)
       J_a = r_a J_K + (1 - r_a) J_C,   J_X(K, K) = B_X,   J_X(K, C) = J_X(C, K) = T_X - B_X,
       J_X(C, C) = 1 - 2 T_X + B_X,     B_K = [p^s + c p^2 (1 - p^(s-2))] / Z_K,
       B_C = p^2 (1 - p^(s-2)) / (1 - p^s)

   (``B_X``: two given children both kept; ``B_C = 0`` for ``s = 2``). ``h_j(x)`` is the
   probability that a level-``λ`` node below a level-``j`` node of status ``x`` changes:
   ``h_λ = (0, 1)`` and ``h_j(x) = T_x h_{j+1}(K) + (1 - T_x) h_{j+1}(C)`` at ``p = p_{j+1}``.
   At ``k = 0``, ``P(both change) = 1 - r_λ``.
6. *Correlation.* With ``sigma = 2 n - 1`` (``n`` the change indicator),
   ``C(k) = 4 [P(both change) - (1 - r_λ)^2]``. Because ``h`` is affine in the kept indicator,
   ``C(k) = 4 (h_{a+1}(C) - h_{a+1}(K))^2 [J_a(K, K) - r_{a+1}^2]``: the sign is that of the
   covariance of the two children's statuses at the common ancestor, a mixture of a kept ancestor
   (positive: the true rule keeps all children or none of them by itself) and a changed one
   (negative: the all-kept pattern is excluded). Moving the ancestor one level up multiplies
   ``h(C) - h(K)`` by ``lambda = T_K - T_C``; at ``eps*`` every ``p_l = p*``, so deep inside the
   tree ``C(k+1)/C(k) -> lambda(p*)^2``: ``C(r) ~ r^-a``, ``a = -2 log lambda(p*) / log s``
   (0.943 at v=32, m=8, s=2). ``chi`` and ``xi`` follow from the pair sums
   ``N(k) C(k)`` through :func:`hierphase.correlations.susceptibility` and
   :func:`hierphase.correlations.correlation_length`.
7. *Within-x0 correlation.* The estimator takes the connected correlation over the trajectories
   of one ``x0`` and then averages over ``x0`` (and over the pairs at distance ``k``). Under the
   epsilon-process the evidence is a deterministic function of ``x0``, so the trajectories of
   one ``x0`` differ only by the posterior sample, and the estimator measures
   ``4 [E P_ij(both) - E (P_i P_j)] = 4 [E P_ij(both) - E P_i E P_j] - 4 Cov(P_i, P_j)``, with
   ``P_i`` the change probability of site ``i`` *for that x0 and those rules* and the
   expectation and covariance over ``x0``, rules and pairs. The annealed theory has the same
   value for every ``x0`` and every pair: it stands for ``E P_ij(both)`` and ``E P_i``, and it
   has no quenched term ``Cov(P_i, P_j)``, which it thus drops. Its ``C(k)`` is the total
   covariance, not the within-x0 one: at ``k = 0`` the dropped term is ``4 Var(P_i) >= 0``, so
   the theory's ``C(0)`` exceeds the estimator's to the extent that its marginals are right.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from . import correlations
from .checks import check_finite, check_int
from .params import validate_params

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "code_rate",
    "code_size",
    "F",
    "F_prime",
    "leaf_weight",
    "upward_curve",
    "class_reconstruction",
    "downward_step",
    "level_reconstruction",
    "fixed_points",
    "critical_noise",
    "slope_at_fixed_point",
    "nu",
    "one_is_stable",
    "ChildStatus",
    "child_status",
    "PairChange",
    "pair_change",
    "mean_field_correlation_tables",
    "level_ratio_at_critical_point",
    "correlation_exponent",
]


def _check(v, m, s):
    """The RHM's own parameter checks (:func:`hierphase.params.validate_params`) at any depth."""
    validate_params(v, m, s, L=1)


def _cf(v, m, s, n_parents=None):
    n_parents = v if n_parents is None else check_int(n_parents, "n_parents", 1)
    denom = float(v) ** s - 1.0
    return (m - 1) / denom, (m * n_parents - 1) / denom


def F(p, v: int, m: int, s: int, n_parents: int | None = None):
    """One level of the annealed upward map (``n_parents`` defaults to ``v``). Array-friendly."""
    _check(v, m, s)
    c, f = _cf(v, m, s, n_parents)
    ps = check_finite(p, "p", 0.0, 1.0) ** s
    return (ps + c * (1 - ps)) / (ps + f * (1 - ps))


def F_prime(p, v: int, m: int, s: int, n_parents: int | None = None):
    """dF/dp."""
    _check(v, m, s)
    c, f = _cf(v, m, s, n_parents)
    p = check_finite(p, "p", 0.0, 1.0)
    ps = p**s
    num = c + (1 - c) * ps
    den = f + (1 - f) * ps
    return s * p ** (s - 1) * ((1 - c) * den - (1 - f) * num) / den**2


def leaf_weight(eps, v: int):
    """``p_L = 1 - eps (1 - 1/v)``: the leaf belief on the true symbol under the epsilon-process."""
    v = check_int(v, "v", 2)
    eps = check_finite(eps, "eps", 0.0, 1.0)  # NaN compares false: refused here, not propagated
    return 1 - eps * (1 - 1 / v)


def upward_curve(eps, v: int, m: int, s: int, L: int, n_classes: int | None = None) -> np.ndarray:
    """Upward weights ``p_l`` for l = 0..L, array (L+1, *eps.shape)."""
    validate_params(v, m, s, L, n_classes)
    p = leaf_weight(eps, v)
    out = [p]
    for level in range(L - 1, -1, -1):
        p = F(p, v, m, s, n_parents=(n_classes if level == 0 else None))
        out.append(p)
    return np.stack(out[::-1])


def class_reconstruction(eps, v: int, m: int, s: int, L: int, n_classes: int | None = None):
    """Mean-field probability of keeping the class: ``F^L(1 - eps (1 - 1/v))``."""
    return upward_curve(eps, v, m, s, L, n_classes)[0]


def downward_step(q, p, v: int, m: int, s: int):
    """Downward weight on the true child given the parent's downward weight ``q`` and the
    siblings' upward weight ``p`` (see the module docstring)."""
    _check(v, m, s)
    q = check_finite(q, "q", 0.0, 1.0)
    ps = check_finite(p, "p", 0.0, 1.0) ** (s - 1)
    a = (m - 1) * q + m * (1 - q)
    denom = float(v) ** s - 1
    return (q * ps + a * (1 - ps) / denom) / (q * ps + a * (v - ps) / denom)


def _combine(p, q, n_vals):
    off = (1 - p) * (1 - q) / (n_vals - 1) if n_vals > 1 else 0.0 * p
    return p * q / (p * q + off)


def level_reconstruction(eps, v: int, m: int, s: int, L: int,
                         n_classes: int | None = None) -> np.ndarray:
    """Mean-field probability of keeping the level-l latent, l = 0..L: array (L+1, *eps.shape)."""
    n_classes = v if n_classes is None else n_classes
    up = upward_curve(eps, v, m, s, L, n_classes)
    q = np.full_like(up[0], 1.0 / n_classes)
    out = [up[0]]
    for level in range(1, L + 1):
        q = downward_step(q, up[level], v, m, s)
        out.append(_combine(up[level], q, v))
    return np.stack(out)


def one_is_stable(v: int, m: int, s: int) -> bool:
    """The fixed point p = 1 is stable iff ``F'(1) = s m (v-1)/(v^s-1) < 1``."""
    _check(v, m, s)
    return s * m * (v - 1) / (v**s - 1) < 1


def fixed_points(v: int, m: int, s: int) -> tuple[float, ...]:
    """Fixed points of F in [1/v, 1], ascending: always 1/v and 1, plus any in between
    (for s = 2 the unstable one is ``p* = (m-1)/(v-m)``)."""
    _check(v, m, s)
    c, f = _cf(v, m, s)
    # F(p) = p  <=>  -(1-f) p^(s+1) + (1-c) p^s - f p + c = 0
    coeffs = np.zeros(s + 2)
    coeffs[0], coeffs[1], coeffs[-2], coeffs[-1] = -(1 - f), 1 - c, -f, c
    poly = np.polynomial.Polynomial(coeffs[::-1])
    # divide out the known roots 1/v and 1, then polish the others with Newton steps
    rest, _ = divmod(poly, np.polynomial.Polynomial([-1.0, 1.0]))
    rest, _ = divmod(rest, np.polynomial.Polynomial([-1.0 / v, 1.0]))
    found = []
    for r in rest.roots():
        if abs(r.imag) > 1e-9:
            continue
        x = float(r.real)
        for _ in range(50):
            dx = poly(x) / poly.deriv()(x)
            x -= dx
            if abs(dx) < 1e-16:
                break
        if 1 / v + 1e-12 < x < 1 - 1e-12:
            found.append(float(x))
    points = sorted({round(x, 14): x for x in found}.values())
    return (1 / v, *points, 1.0)


def _unstable_point(v, m, s):
    if not one_is_stable(v, m, s):
        return None
    inner = [p for p in fixed_points(v, m, s)[1:-1] if F_prime(p, v, m, s) > 1]
    return inner[0] if inner else None


def critical_noise(v: int, m: int, s: int) -> float | None:
    """``eps* = (1 - p*)/(1 - 1/v)`` for the unstable fixed point p*; None when 1 is unstable
    (no transition: the class is lost at any depth for any noise) or no p* exists."""
    p = _unstable_point(v, m, s)
    return None if p is None else (1 - p) / (1 - 1 / v)


def slope_at_fixed_point(v: int, m: int, s: int) -> float | None:
    """``F'(p*)`` at the unstable fixed point (> 1), or None."""
    p = _unstable_point(v, m, s)
    return None if p is None else float(F_prime(p, v, m, s))


def nu(v: int, m: int, s: int) -> float | None:
    """Correlation-length exponent ``nu = log s / log F'(p*)`` (follow-up paper), or None."""
    slope = slope_at_fixed_point(v, m, s)
    return None if slope is None else math.log(s) / math.log(slope)


# ----------------------------------------------------------------------------- pair changes
class ChildStatus(NamedTuple):
    """Mean-field statuses of the children of one node (module docstring, steps 2-5)."""

    kept_if_kept: np.ndarray  # T_K: a given child kept, parent kept
    kept_if_changed: np.ndarray  # T_C: a given child kept, parent changed
    both_if_kept: np.ndarray  # B_K: two given children both kept, parent kept
    both_if_changed: np.ndarray  # B_C: two given children both kept, parent changed


def _geometric(p: np.ndarray, n: int) -> np.ndarray:
    """``1 + p + .. + p^(n-1) = (1 - p^n)/(1 - p)``, without the 0/0 at ``p = 1``."""
    return sum((p**j for j in range(n)), np.zeros_like(p))


def child_status(p, v: int, m: int, s: int) -> ChildStatus:
    """Probabilities that children whose upward weight on the truth is ``p`` keep their true
    symbol, given whether their parent's sampled value was kept (annealed). Array-friendly."""
    _check(v, m, s)
    p = check_finite(p, "p", 0.0, 1.0)
    c, _ = _cf(v, m, s)
    ps = p**s
    z_kept = ps + c * (1 - ps)
    # children i.i.d. kept with probability p, conditioned on not all kept
    one = p * _geometric(p, s - 1) / _geometric(p, s)
    two = p**2 * _geometric(p, s - 2) / _geometric(p, s)
    rest = c * (1 - ps) / z_kept  # probability that a kept parent picks one of its other rules
    return ChildStatus(kept_if_kept=ps / z_kept + rest * one, kept_if_changed=one,
                       both_if_kept=ps / z_kept + rest * two, both_if_changed=two)


class PairChange(NamedTuple):
    """Mean-field change statistics of the nodes of one tree level, by tree distance ``k``
    (last axis, ``k = 0..level``); leading axes follow ``eps``."""

    level: int
    distance: np.ndarray  # k
    r: np.ndarray  # s**k - 1
    n_pairs: np.ndarray  # ordered pairs at tree distance k (correlations.tree_bins)
    p_change: np.ndarray  # a node changes; shape of eps
    p_both: np.ndarray  # two nodes at distance k both change; p_both[..., 0] = p_change
    C: np.ndarray  # connected correlation of the change spins, 4 (p_both - p_change**2)
    chi: np.ndarray | float  # susceptibility (NaN where nothing changes)
    xi: np.ndarray | float  # second-moment correlation length


def pair_change(eps, v: int, m: int, s: int, L: int, n_classes: int | None = None,
                level: int | None = None) -> PairChange:
    """Annealed mean-field probability that two nodes of ``level`` (default ``L``, the leaves) at
    tree distance ``k`` both change in one forward-backward run of the epsilon-process, and the
    resulting ``C(k)``, ``chi`` and ``xi`` (module docstring, steps 1-7)."""
    n_classes = validate_params(v, m, s, L, n_classes)
    level = L if level is None else level
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) \
            or not 0 <= level <= L:
        raise ValueError(f"level must be an int in [0, L={L}], got {level!r}")
    level = int(level)
    if level * (int(s).bit_length() - 1) >= 62:  # the pair counts of correlations.tree_bins
        raise ValueError(f"L / level: the s**level nodes of the level must stay below 2**62 "
                         f"(their pairs are counted in int64), got s={s}, level={level}")
    eps = check_finite(eps, "eps", 0.0, 1.0)
    up = upward_curve(eps, v, m, s, L, n_classes)
    kept = level_reconstruction(eps, v, m, s, L, n_classes)
    p_change = 1 - kept[level]
    # h_j = (P(change | kept), P(change | changed)) for a level-`level` node below level j
    h_kept, h_changed = np.zeros_like(eps), np.ones_like(eps)
    p_both = [p_change]
    for a in range(level - 1, -1, -1):  # common ancestor at level a, tree distance level - a
        st = child_status(up[a + 1], v, m, s)
        both_kept = kept[a] * st.both_if_kept + (1 - kept[a]) * st.both_if_changed
        one_kept = kept[a] * st.kept_if_kept + (1 - kept[a]) * st.kept_if_changed
        one_only = one_kept - both_kept
        none_kept = 1 - 2 * one_kept + both_kept
        p_both.append(both_kept * h_kept**2 + 2 * one_only * h_kept * h_changed
                      + none_kept * h_changed**2)
        h_kept, h_changed = (st.kept_if_kept * h_kept + (1 - st.kept_if_kept) * h_changed,
                             st.kept_if_changed * h_kept + (1 - st.kept_if_changed) * h_changed)
    p_both = np.stack(p_both, axis=-1)
    C = 4 * (p_both - p_change[..., None] ** 2)
    bins = correlations.tree_bins(s, level)
    sums = C * bins.n_pairs
    chi = correlations.susceptibility(sums)
    xi = np.empty(eps.shape)
    for index in np.ndindex(eps.shape):
        xi[index] = correlations.correlation_length(sums[index], bins.r).xi
    if eps.ndim == 0:
        chi, xi = float(chi), float(xi)
    return PairChange(level=level, distance=bins.distance, r=bins.r, n_pairs=bins.n_pairs,
                      p_change=p_change, p_both=p_both, C=C, chi=chi, xi=xi)


def mean_field_correlation_tables(eps_values, v: int, m: int, s: int, L: int,
                                  n_classes: int | None = None,
                                  levels: Iterable[int] | None = None
                                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The theory's rows in the layout of :data:`hierphase.correlations.CORRELATION_COLUMNS` and
    :data:`~hierphase.correlations.SUSCEPTIBILITY_COLUMNS`, with a leading ``noise`` column
    (``eps``), for each ``eps`` in ``eps_values`` and each of ``levels`` (default: the leaves).
    Intervals equal the point value; ``n_x0`` and ``n_traj`` are missing."""
    import pandas as pd

    eps = check_finite(eps_values, "eps_values", 0.0, 1.0).ravel()
    if eps.size == 0:
        raise ValueError("eps_values must hold at least one noise level")
    levels = [L] if levels is None else list(levels)
    missing = pd.array([pd.NA], dtype="Int64")
    corr, chi = [], []
    for level in levels:
        pc = pair_change(eps, v, m, s, L, n_classes, level=level)
        n_bins = len(pc.distance)
        C = pc.C.ravel()
        corr.append(pd.DataFrame({
            "noise": np.repeat(eps, n_bins),
            "level": pd.array([pc.level] * C.size, dtype="Int64"),
            "distance": np.tile(pc.distance, eps.size), "r": np.tile(pc.r, eps.size),
            "C": C, "C_lo": C, "C_hi": C,
            "n_x0": missing.repeat(C.size), "n_traj": missing.repeat(C.size)}))
        chi.append(pd.DataFrame({
            "noise": eps, "level": pd.array([pc.level] * eps.size, dtype="Int64"),
            "chi": pc.chi, "chi_lo": pc.chi, "chi_hi": pc.chi,
            "xi": pc.xi, "xi_lo": pc.xi, "xi_hi": pc.xi,
            "n_x0": missing.repeat(eps.size), "n_traj": missing.repeat(eps.size)}))
    corr_df = pd.concat(corr, ignore_index=True)[["noise", *correlations.CORRELATION_COLUMNS]]
    chi_df = pd.concat(chi, ignore_index=True)[["noise", *correlations.SUSCEPTIBILITY_COLUMNS]]
    return corr_df, chi_df


def level_ratio_at_critical_point(v: int, m: int, s: int) -> float | None:
    """``lambda(p*) = T_K(p*) - T_C(p*)`` (module docstring, step 6): the factor by which one
    more level between two nodes and their common ancestor multiplies ``h(C) - h(K)`` when every
    upward weight sits at the unstable fixed point ``p*``. ``C(k+1)/C(k)`` tends to its square
    deep inside an infinitely deep tree at ``eps*``. None without a transition."""
    _check(v, m, s)
    p = _unstable_point(v, m, s)
    if p is None:
        return None
    st = child_status(p, v, m, s)
    return float(st.kept_if_kept - st.kept_if_changed)


def correlation_exponent(v: int, m: int, s: int) -> float | None:
    """Mean field's exponent of ``C ~ (s**k)**-a`` at ``eps*`` and infinite depth,
    ``a = -2 log lambda(p*) / log s`` (:func:`level_ratio_at_critical_point`; 0.943 at v=32,
    m=8, s=2). It is a statement about tree levels ``k``: ``C(k+1)/C(k) = s**-a``. None without
    a transition."""
    lam = level_ratio_at_critical_point(v, m, s)
    return None if lam is None else -2.0 * math.log(lam) / math.log(s)


# ----------------------------------------------------------------------------- random code


def code_rate(v: int, eps) -> np.ndarray | float:
    """Nats per token that the epsilon-process evidence at ``eps`` gives against a random
    codeword, annealed (:mod:`hierphase.controls`, the random code):
    ``beta - log(1 + (e^beta - 1)/v)``, ``beta = log((1 - eps + eps/v) / (eps/v))``; 0 at
    ``eps = 1``."""
    v = check_int(v, "v", 2)
    e = np.asarray(eps, dtype=float)
    if np.any(~((e > 0) & (e <= 1))):
        raise ValueError(f"eps must lie in (0, 1], got {eps!r}")
    beta = np.log((1 - e + e / v) / (e / v))
    out = beta - np.log1p(np.expm1(beta) / v)
    return float(out) if out.ndim == 0 else out


def code_size(v: int, d: int, eps: float) -> int:
    """The number of codewords whose class flips near ``eps`` in the annealed estimate:
    ``1 + round(exp(d * rate(eps)))`` (:func:`code_rate`). More than ``2**40`` codewords (far
    beyond what enumeration reaches) is refused."""
    d = check_int(d, "d", 1)
    nats = d * code_rate(v, eps)
    if nats > 40 * math.log(2):
        raise ValueError(f"d = {d} over v = {v} symbols needs about e^{nats:.0f} codewords to "
                         f"flip near eps = {eps}: too many to enumerate; lower d or v")
    return 1 + int(round(math.exp(nats)))
