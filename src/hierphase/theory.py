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
"""

from __future__ import annotations

import math

import numpy as np

from .params import validate_params

__all__ = [
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
]


def _check(v, m, s):
    """The RHM's own parameter checks (:func:`hierphase.params.validate_params`) at any depth."""
    validate_params(v, m, s, L=1)


def _cf(v, m, s, n_parents=None):
    n_parents = v if n_parents is None else n_parents
    denom = float(v) ** s - 1.0
    return (m - 1) / denom, (m * n_parents - 1) / denom


def F(p, v: int, m: int, s: int, n_parents: int | None = None):
    """One level of the annealed upward map (``n_parents`` defaults to ``v``). Array-friendly."""
    _check(v, m, s)
    c, f = _cf(v, m, s, n_parents)
    ps = np.asarray(p, dtype=float) ** s
    return (ps + c * (1 - ps)) / (ps + f * (1 - ps))


def F_prime(p, v: int, m: int, s: int, n_parents: int | None = None):
    """dF/dp."""
    _check(v, m, s)
    c, f = _cf(v, m, s, n_parents)
    p = np.asarray(p, dtype=float)
    ps = p**s
    num = c + (1 - c) * ps
    den = f + (1 - f) * ps
    return s * p ** (s - 1) * ((1 - c) * den - (1 - f) * num) / den**2


def leaf_weight(eps, v: int):
    """``p_L = 1 - eps (1 - 1/v)``: the leaf belief on the true symbol under the epsilon-process."""
    eps = np.asarray(eps, dtype=float)
    if np.any((eps < 0) | (eps > 1)):
        raise ValueError("theory: eps must lie in [0, 1]")
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
    q = np.asarray(q, dtype=float)
    ps = np.asarray(p, dtype=float) ** (s - 1)
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
