"""hierphase.theory: the annealed mean-field map, its fixed points, eps* and nu."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from hierphase import theory as T


def test_paper_numbers_v32_m8_s2():
    assert round(T.critical_noise(32, 8, 2), 4) == 0.7312
    assert round(T.nu(32, 8, 2), 2) == 1.89
    p_star = 7 / 24
    assert T.fixed_points(32, 8, 2) == pytest.approx((1 / 32, p_star, 1.0), abs=1e-13)
    assert T.critical_noise(32, 8, 2) == pytest.approx((1 - p_star) / (1 - 1 / 32), abs=1e-13)
    # F'(p*) by central differences of F at the closed-form p*, and as the growth per level of a
    # small deviation from p* under the map itself
    h = 1e-6
    slope = (T.F(p_star + h, 32, 8, 2) - T.F(p_star - h, 32, 8, 2)) / (2 * h)
    assert T.slope_at_fixed_point(32, 8, 2) == pytest.approx(slope, rel=1e-8)
    p = p_star + 1e-9
    for _ in range(5):
        p = T.F(p, 32, 8, 2)
    assert (p - p_star) / 1e-9 == pytest.approx(T.slope_at_fixed_point(32, 8, 2) ** 5, rel=1e-4)


@pytest.mark.parametrize("v,m", [(32, 8), (16, 4), (10, 3), (64, 20)])
def test_s2_unstable_point_closed_form(v, m):
    pts = T.fixed_points(v, m, 2)
    assert len(pts) == 3 and pts[1] == pytest.approx((m - 1) / (v - m), abs=1e-12)
    assert T.F_prime(pts[1], v, m, 2) > 1


@pytest.mark.parametrize("v,m,s", [(8, 3, 3), (16, 10, 3), (6, 2, 4), (32, 8, 2)])
def test_fixed_points_are_fixed(v, m, s):
    pts = T.fixed_points(v, m, s)
    assert pts[0] == 1 / v and pts[-1] == 1.0 and list(pts) == sorted(pts)
    for p in pts:
        assert T.F(p, v, m, s) == pytest.approx(p, abs=1e-12)


def test_F_limits_and_derivative():
    for v, m, s in [(32, 8, 2), (8, 3, 3)]:
        assert T.F(1 / v, v, m, s) == pytest.approx(1 / v)
        assert T.F(1.0, v, m, s) == pytest.approx(1.0)
        assert T.F(1 / v, v, m, s, n_parents=5) == pytest.approx(1 / 5)
        assert T.F_prime(1.0, v, m, s) == pytest.approx(s * m * (v - 1) / (v**s - 1))
        p, h = 0.4, 1e-6
        fd = (T.F(p + h, v, m, s) - T.F(p - h, v, m, s)) / (2 * h)
        assert T.F_prime(p, v, m, s) == pytest.approx(fd, rel=1e-6)


def test_no_transition_when_one_is_unstable():
    # s m (v-1)/(v^s-1) = 2*4*3/15 > 1: the class is lost at any noise for deep trees
    assert not T.one_is_stable(4, 4, 2)
    assert T.critical_noise(4, 4, 2) is None and T.nu(4, 4, 2) is None
    assert T.slope_at_fixed_point(4, 4, 2) is None
    assert T.one_is_stable(32, 8, 2)


def test_class_curve_tends_to_step_at_eps_star():
    v, m, s = 32, 8, 2
    eps_star = T.critical_noise(v, m, s)
    eps = np.array([0.0, eps_star - 0.02, eps_star + 0.02, 1.0])
    deep = T.class_reconstruction(eps, v, m, s, 40)
    assert deep[0] == 1.0 and deep[-1] == pytest.approx(1 / v)
    assert deep[1] > 0.95 and deep[2] < 1 / v + 1e-3
    grid = np.linspace(0, 1, 201)
    widths = []
    for L in (2, 4, 8, 16):
        c = T.class_reconstruction(grid, v, m, s, L)
        assert np.all(np.diff(c) <= 1e-15)  # decreasing in eps
        widths.append(np.ptp(grid[(c > 0.1) & (c < 0.9)]))  # width of the drop
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 3


def test_level_curves():
    v, m, s, L = 32, 8, 2, 6
    eps = np.linspace(0, 1, 11)
    curves = T.level_reconstruction(eps, v, m, s, L)
    assert curves.shape == (L + 1, 11)
    # the class row at eps*: the leaves' weight is then the unstable fixed point
    # p* = (m-1)/(v-m) (s = 2, closed forms), which every level of the upward map keeps
    p_star = (m - 1) / (v - m)
    at_star = T.level_reconstruction(np.array([(1 - p_star) / (1 - 1 / v)]), v, m, s, L)
    assert at_star[0, 0] == pytest.approx(p_star, abs=1e-12)
    assert np.allclose(curves[:, 0], 1.0)
    assert curves[0, -1] == pytest.approx(1 / v)
    assert np.all(curves[1:, -1] >= 1 / v)  # true low-level symbols are a priori likelier
    assert np.all((curves >= 0) & (curves <= 1))
    # leaves: never below the evidence alone, which is the upward weight p_L
    assert np.all(curves[L] >= T.leaf_weight(eps, v) - 1e-12)
    # when every tuple is a rule (m = v^(s-1)) the prior of every symbol is uniform
    full = T.level_reconstruction(np.array([1.0]), 4, 4, 2, 3)
    assert np.allclose(full[1:], 0.25)
    nc = T.level_reconstruction(np.array([1.0]), 8, 3, 2, 3, n_classes=5)
    assert nc[0, 0] == pytest.approx(0.2)


@pytest.mark.parametrize("call", [
    lambda: T.F(0.5, 1, 1, 2),
    lambda: T.F(0.5, 8, 9, 2),
    lambda: T.F(0.5, 8, 2, 1),
    lambda: T.class_reconstruction(1.5, 8, 2, 2, 3),
    lambda: T.class_reconstruction(0.5, 8, 2, 2, 0),
])
def test_errors(call):
    with pytest.raises(ValueError):
        call()


def _eps_at(level, v, m, s, L):
    """The noise at which the depth-L class curve crosses ``level`` (it decreases from 1 to 1/v)."""
    return brentq(lambda eps: float(T.class_reconstruction(eps, v, m, s, L)) - level, 0.0, 1.0,
                  xtol=1e-15, rtol=1e-15)


# Depths at which the drop is about 1e-6 and 1e-8 wide: deep enough that the leaves' weights in the
# drop are within 1e-6 of p* (where the map is linear), shallow enough for double precision.
@pytest.mark.parametrize("v,m,s,depths", [(32, 8, 2, (38, 50)), (16, 3, 2, (52, 68)),
                                          (8, 3, 3, (118, 158))])
def test_nu_is_the_exponent_of_the_curves_narrowing(v, m, s, depths):
    """nu from its meaning, by a numerical solve on the class curves alone: the width in eps of
    the drop of the class curve (from 3/4 to 1/4) shrinks with depth as d^(-1/nu), d = s^L."""
    widths = [_eps_at(0.25, v, m, s, L) - _eps_at(0.75, v, m, s, L) for L in depths]
    fitted = (depths[1] - depths[0]) * math.log(s) / math.log(widths[0] / widths[1])
    assert T.nu(v, m, s) == pytest.approx(fitted, rel=1e-5)


def test_theory_validates_with_the_rhm_validator():
    """The mean-field functions refuse what the RHM refuses, with the RHM's message."""
    with pytest.raises(ValueError, match=r"^RHM parameter m must satisfy m <= v\*\*\(s-1\)"):
        T.F(0.5, 8, 9, 2)
    with pytest.raises(ValueError, match=r"^RHM parameter L \(depth\)"):
        T.class_reconstruction(0.5, 8, 2, 2, 0)
    with pytest.raises(ValueError, match=r"^RHM parameters must satisfy n_classes\*m <= v\*\*s"):
        T.class_reconstruction(0.5, 4, 2, 2, 3, n_classes=9)
    assert T.one_is_stable(np.int64(32), np.int64(8), np.int64(2))  # numpy integers are ints
