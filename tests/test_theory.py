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


# ----------------------------------------------------------------------------- pair changes
PAIR_CASES = [(32, 8, 2, 6, None), (8, 3, 3, 4, None), (16, 4, 2, 5, 5), (6, 2, 4, 3, None)]


def _fresh_rule_status(v, m, s):
    """A parent keeps a child (and two given children) when the rule drawn for it, uniformly
    among its m rules (a changed parent: among rules none of which is the true tuple; every rule
    but the true one a uniform draw from the v^s - 1 other tuples), agrees there."""
    one = (v ** (s - 1) - 1) / (v**s - 1)
    two = (v ** (s - 2) - 1) / (v**s - 1)
    return (1 + (m - 1) * one) / m, one, (1 + (m - 1) * two) / m, two


@pytest.mark.parametrize("v,m,s,L,n_classes", PAIR_CASES)
def test_pair_change_limits(v, m, s, L, n_classes):
    # eps = 0: nothing changes, nothing fluctuates, chi and xi are undefined
    clean = T.pair_change(0.0, v, m, s, L, n_classes)
    assert clean.p_change == 0.0 and np.all(clean.p_both == 0.0) and np.all(clean.C == 0.0)
    assert math.isnan(clean.chi) and math.isnan(clean.xi)
    # eps = 1: the evidence is void, a forward-backward run is a fresh draw from the prior. The
    # class is resampled uniformly; below it, each node's rule is a uniform pick among its m
    nc = v if n_classes is None else n_classes
    assert T.pair_change(1.0, v, m, s, L, n_classes, level=0).p_change == \
        pytest.approx(1 - 1 / nc, abs=1e-14)
    kept_k, kept_c, both_k, both_c = _fresh_rule_status(v, m, s)
    kept = [1 / nc]
    for _ in range(L):
        kept.append(kept[-1] * kept_k + (1 - kept[-1]) * kept_c)
    void = T.pair_change(1.0, v, m, s, L, n_classes)
    assert void.p_change == pytest.approx(1 - kept[L], abs=1e-13)
    # siblings: both leaves change unless one of them is kept
    both_kept = kept[L - 1] * both_k + (1 - kept[L - 1]) * both_c
    assert void.p_both[1] == pytest.approx(1 - 2 * kept[L] + both_kept, abs=1e-13)
    assert void.C[0] == pytest.approx(4 * kept[L] * (1 - kept[L]), abs=1e-13)


@pytest.mark.parametrize("v,m,s,L,n_classes", PAIR_CASES)
def test_status_chain_reproduces_level_reconstruction(v, m, s, L, n_classes):
    """r_{l+1} = r_l T_K + (1 - r_l) T_C (module docstring, step 4), at every level, and the
    nodes' change probability is 1 - level_reconstruction at every level."""
    eps = np.linspace(0, 1, 41)
    up = T.upward_curve(eps, v, m, s, L, n_classes)
    kept = T.level_reconstruction(eps, v, m, s, L, n_classes)
    chain = up[0]
    for level in range(1, L + 1):
        st = T.child_status(up[level], v, m, s)
        chain = chain * st.kept_if_kept + (1 - chain) * st.kept_if_changed
        np.testing.assert_allclose(chain, kept[level], rtol=0, atol=1e-13)
    for level in range(L + 1):
        pc = T.pair_change(eps, v, m, s, L, n_classes, level=level)
        np.testing.assert_allclose(pc.p_change, 1 - kept[level], rtol=0, atol=0)
        np.testing.assert_array_equal(pc.p_both[:, 0], pc.p_change)
        assert pc.p_both.shape == pc.C.shape == (41, level + 1) and pc.chi.shape == (41,)


@pytest.mark.parametrize("v,m,s,L,n_classes", PAIR_CASES + [(4, 4, 2, 6, None), (3, 2, 2, 7, None)])
def test_pair_change_bounds(v, m, s, L, n_classes):
    """p_change^2 <= p_both(k) <= p_change, i.e. 0 <= C(k) <= C(0), at every level and noise
    (also without a transition: (4, 4, 2) and (3, 2, 2) have p = 1 unstable)."""
    eps = np.linspace(0, 1, 201)
    for level in range(L + 1):
        pc = T.pair_change(eps, v, m, s, L, n_classes, level=level)
        assert np.all(pc.p_both >= pc.p_change[:, None] ** 2 - 1e-15)
        assert np.all(pc.p_both <= pc.p_change[:, None] + 1e-15)
        assert np.all(pc.C[:, 1:] <= pc.C[:, :1] + 1e-15)
        chi = pc.chi[eps > 0]
        assert np.all((chi >= 1 - 1e-12) & (chi <= s**level + 1e-12))  # C(k) <= C(0)


def _sample_statuses(eps, v, m, s, L, n_classes, n, rng):
    """The annealed process itself, drawn top-down on an explicit tree: the class is kept with
    probability p_0; a kept node keeps all its children when it picks its true rule, with
    probability p^s / (p^s + c (1 - p^s)); otherwise (and always under a changed node) its
    children are kept independently with probability p each, drawn again while all are kept.
    Returns the leaves' change indicators (n, s**L)."""
    up = T.upward_curve(eps, v, m, s, L, n_classes)
    c = (m - 1) / (v**s - 1)
    kept = rng.random((n, 1)) < up[0]
    for level in range(1, L + 1):
        p = up[level]
        children = rng.random(kept.shape + (s,)) < p
        redraw = children.all(axis=-1)
        while redraw.any():
            children[redraw] = rng.random((int(redraw.sum()), s)) < p
            redraw = children.all(axis=-1)
        true_rule = kept & (rng.random(kept.shape) < p**s / (p**s + c * (1 - p**s)))
        children[true_rule] = True
        kept = children.reshape(n, -1)
    return ~kept


@pytest.mark.parametrize("eps,v,m,s,L,n_classes", [(0.73, 32, 8, 2, 4, None),
                                                     (0.9, 8, 3, 3, 3, 4)])
def test_pair_change_against_monte_carlo(eps, v, m, s, L, n_classes):
    """The closed form against a simulation of the process it describes (fixed seed): the
    pair-change counts per tree distance and C(k) through the estimator's own pair sums."""
    from hierphase.correlations import tree_bins, tree_pair_sums

    rng = np.random.default_rng(20261130)
    n_blocks, per_block = 20, 2000
    changed = _sample_statuses(eps, v, m, s, L, n_classes, n_blocks * per_block, rng)
    pc = T.pair_change(eps, v, m, s, L, n_classes)
    dist = np.zeros((s**L, s**L), dtype=int)
    for k in range(1, L + 1):
        block = np.arange(s**L) // s**k
        dist[(block[:, None] == block[None, :]) & (dist == 0)] = k
    np.fill_diagonal(dist, 0)
    both = changed.astype(float).T @ changed.astype(float) / changed.shape[0]
    counts = [both[dist == k].mean() for k in range(L + 1)]
    sd = np.sqrt(np.asarray(counts) * (1 - np.asarray(counts)) / changed.shape[0])
    assert np.all(np.abs(np.asarray(counts) - pc.p_both) <= 5 * sd + 1e-12)
    spins = np.where(changed, 1, -1).reshape(n_blocks, per_block, -1)
    C = np.stack([tree_pair_sums(x, s) for x in spins]) / tree_bins(s, L).n_pairs
    se = C.std(axis=0, ddof=1) / math.sqrt(n_blocks)
    assert np.all(np.abs(C.mean(axis=0) - pc.C) <= 5 * se), (C.mean(axis=0), pc.C, se)
    assert pc.C[1] > 10 * se[1]  # the comparison has teeth: siblings are clearly correlated


def test_pair_change_against_exact_bp():
    """Against exact BP on a real RHM (v=32 m=8 s=2 L=5, 64 data x 64 posterior samples each):
    measured gaps at these seeds are <= 0.027 in C(k) and <= 2% in chi; the tolerances (0.05 and
    10%) leave room for other seeds. The annealed theory drops the quenched disorder (module
    docstring, step 7), so it is not exact, only close."""
    from hierphase import bp, correlations, noise, rhm

    v, m, s, L, n_x0, n_traj = 32, 8, 2, 5, 64, 64
    rules = rhm.sample_rules(v, m, s, L, seed=1)
    trees = rhm.sample_trees(rules, n_x0, seed=2)
    chis = []
    for eps in (0.6, 0.73, 0.85):
        ev = noise.epsilon_evidence(trees[-1], eps, v).repeat_interleave(n_traj, 0)
        hat = [h.reshape(n_x0, n_traj, -1) for h in bp.sample_posterior(rules, ev, seed=3)]
        spins = correlations.tree_change_spins(trees, hat)
        out = correlations.tree_correlations({L: spins[L]}, s, n_boot=10, seed=4)
        theory = T.pair_change(eps, v, m, s, L)
        assert np.abs(theory.C - out.correlations.C.to_numpy()).max() < 0.05
        chi = out.susceptibility.chi.iloc[0]
        assert abs(theory.chi - chi) < 0.1 * chi
        chis.append(chi)
    assert chis[1] > 1.4 * max(chis[0], chis[2])  # the comparison spans the peak


def test_mean_field_correlation_tables():
    from hierphase.correlations import CORRELATION_COLUMNS, SUSCEPTIBILITY_COLUMNS

    eps = [0.0, 0.6, 0.73]
    corr, chi = T.mean_field_correlation_tables(eps, 32, 8, 2, 4, levels=[4, 2])
    assert list(corr.columns) == ["noise", *CORRELATION_COLUMNS]
    assert list(chi.columns) == ["noise", *SUSCEPTIBILITY_COLUMNS]
    assert len(corr) == 3 * 5 + 3 * 3 and len(chi) == 3 * 2
    assert corr.n_x0.isna().all() and corr.n_traj.isna().all() and chi.n_traj.isna().all()
    assert str(corr.level.dtype) == str(chi.n_x0.dtype) == "Int64"
    for level in (4, 2):
        pc = T.pair_change(np.array(eps), 32, 8, 2, 4, level=level)
        rows = corr[corr.level == level]
        np.testing.assert_array_equal(rows.C.to_numpy(), pc.C.ravel())
        np.testing.assert_array_equal(rows.C_lo.to_numpy(), rows.C_hi.to_numpy())
        np.testing.assert_array_equal(rows.noise.to_numpy(), np.repeat(eps, level + 1))
        r = np.tile(2.0 ** np.arange(level + 1) - 1, 3)
        np.testing.assert_array_equal(rows.r.to_numpy(), r)
        one = chi[chi.level == level]
        np.testing.assert_array_equal(one.chi.to_numpy(), pc.chi)
        np.testing.assert_array_equal(one.xi_hi.to_numpy(), pc.xi)
        assert float(T.pair_change(0.73, 32, 8, 2, 4, level=level).chi) == pc.chi[2]
    assert chi.chi.isna().tolist() == [True, False, False] * 2  # nothing fluctuates at eps = 0
    with pytest.raises(ValueError, match="level must be an int in"):
        T.pair_change(0.5, 32, 8, 2, 4, level=5)
    with pytest.raises(ValueError, match="eps_values"):
        T.mean_field_correlation_tables([], 32, 8, 2, 4)



def test_correlation_exponent_is_the_deep_level_ratio_of_the_pair_theory():
    """lambda(p*)^2 against the pair theory's own C(k+1)/C(k) deep inside a tall tree at eps*,
    and a = 0.943 at the paper's point; no transition, no exponent."""
    for v, m, s in [(32, 8, 2), (16, 4, 2), (4, 4, 3)]:
        a = T.correlation_exponent(v, m, s)
        L = 30 if s == 2 else 20
        pc = T.pair_change(T.critical_noise(v, m, s), v, m, s, L)
        mid = pc.C[L // 2] / pc.C[L // 2 + 1]
        assert np.log(mid) / np.log(s) == pytest.approx(a, abs=0.01)
        assert T.level_ratio_at_critical_point(v, m, s) ** 2 == pytest.approx(s**-a)
    assert T.correlation_exponent(32, 8, 2) == pytest.approx(0.9434, abs=1e-4)
    assert T.correlation_exponent(32, 24, 2) is None
