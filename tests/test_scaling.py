"""hierphase.scaling: fits recover known exponents with honest errors; the tables' exponents."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hierphase import theory
from hierphase.scaling import (EXPONENT_COLUMNS, LEVEL_EXPONENT_COLUMNS, class_half_point,
                               collapse_quality, correlation_exponents, extrapolate_eps_star,
                               fit_nu, fit_per_level, fit_power_law, fit_with_correction,
                               half_point_error,
                               level_crossing, level_exponents, pool_rule_seeds,
                               significant_levels)

Z95 = 1.959963984540054


def noisy_power_law(rng, a=1.0, amplitude=0.3, rel=0.08, levels=9, s=2):
    """C = A r^-a on the tree's distances r = s^k - 1, each with a relative error ``rel`` and its
    95% interval as the bootstrap would give it (symmetric, half-width 1.96 sigma)."""
    r = s ** np.arange(levels + 1) - 1.0
    true = amplitude * np.where(r > 0, r, 1.0) ** -a
    sigma = rel * true
    C = true + sigma * rng.standard_normal(r.size)
    return r, C, C - Z95 * sigma, C + Z95 * sigma


# ----------------------------------------------------------------------------- power law
def test_power_law_exact_and_against_scipy_linregress():
    r = 2.0 ** np.arange(1, 9) - 1
    fit = fit_power_law(r, 0.5 * r**-1.3)
    assert fit.exponent == pytest.approx(1.3, abs=1e-12) and fit.err == pytest.approx(0, abs=1e-12)
    assert fit.amplitude == pytest.approx(0.5) and fit.r_range == (1.0, 255.0)
    rng = np.random.default_rng(0)
    C = 0.5 * r**-1.3 * np.exp(0.2 * rng.standard_normal(r.size))
    fit = fit_power_law(r, C)  # no intervals: ordinary least squares in log-log
    ref = stats.linregress(np.log(r), np.log(C))
    assert not fit.weighted
    assert fit.exponent == pytest.approx(-ref.slope, rel=1e-12)
    assert fit.err == pytest.approx(ref.stderr, rel=1e-10)


@pytest.mark.parametrize("with_intervals", [True, False])
def test_power_law_two_sigma_coverage(with_intervals):
    hits, errs = 0, []
    for seed in range(50):
        r, C, lo, hi = noisy_power_law(np.random.default_rng(seed), a=1.0)
        fit = fit_power_law(r, C, *((lo, hi) if with_intervals else ()), r_min=1)
        assert fit.n_points == 9 and fit.weighted is with_intervals
        hits += abs(fit.exponent - 1.0) <= 2 * fit.err
        errs.append(fit.err)
    assert hits >= 40, f"2-sigma coverage {hits}/50"
    assert 0.005 < np.median(errs) < 0.05  # an error of the right size, not a huge one


def test_power_law_leaves_out_and_counts_nonpositive_points():
    r = 2.0 ** np.arange(0, 8) - 1  # includes r = 0, below r_min
    C = 0.2 * np.where(r > 0, r, 1) ** -0.7
    C[[3, 5]] = [-1e-3, 0.0]
    fit = fit_power_law(r, C, r_max=63)
    assert fit.n_nonpositive == 2 and fit.n_points == 4  # r in {1, 3, 15, 63}... not 7, 31
    assert fit.exponent == pytest.approx(0.7, abs=1e-12)
    assert fit.r_range == (1.0, 63.0)
    few = fit_power_law([1, 3], [0.1, -0.1])
    assert np.isnan(few.exponent) and few.n_points == 1 and few.n_nonpositive == 1


def test_power_law_zero_width_intervals_fall_back_to_unweighted():
    r = np.array([1.0, 3, 7, 15])
    C = r**-1.0
    fit = fit_power_law(r, C, C, C)  # mean-field rows: lo = hi = C
    assert not fit.weighted and fit.exponent == pytest.approx(1.0)


def test_power_law_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="C must have 3 values"):
        fit_power_law([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="confidence"):
        fit_power_law([1, 2, 3], [1, 2, 3], confidence=1.5)


# ----------------------------------------------------------------------------- nu
def saturating_xi(rng, nu=1.893, eps_star=0.7312, r_max=1023.0, rel=0.05,
                  grid=np.linspace(0.40, 1.0, 61)):
    """xi = A_pm |eps - eps*|^-nu, cut off near eps* at a third of the system size (a smooth
    saturation), with a relative error and the matching interval."""
    delta = np.abs(grid - eps_star)
    amp = np.where(grid < eps_star, 0.6, 0.9)
    bulk = amp * delta ** -nu
    cap = r_max / 3
    xi = bulk / (1 + (bulk / cap) ** 4) ** 0.25
    sigma = rel * xi
    xi_obs = xi + sigma * rng.standard_normal(xi.size)
    return grid, xi_obs, xi_obs - Z95 * sigma, xi_obs + Z95 * sigma


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_nu_recovered_with_saturation_and_window_needed():
    hits, biased = 0, 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        eps, xi, lo, hi = saturating_xi(rng)
        fit = fit_nu(eps, xi, lo, hi, 0.7312, r_max=1023)
        hits += abs(fit.nu - 1.893) <= 2 * fit.err
        assert fit.err == max(fit.err_fit, fit.err_jackknife)
        assert np.isfinite(fit.amplitude_below) and np.isfinite(fit.amplitude_above)
        assert fit.n_points < 61 and "0.2 r_max" in fit.method
        # without the window the saturated points flatten the slope beyond the error
        flat = fit_nu(eps, xi, lo, hi, 0.7312, r_max=1023, max_fraction=1.0)
        biased += flat.nu < 1.893 - 2 * flat.err
    assert hits >= 40, f"2-sigma coverage {hits}/50"
    assert biased >= 45, f"only {biased}/50 unwindowed fits visibly biased"


def test_nu_one_side_and_exact_amplitudes():
    eps = np.linspace(0.4, 1.0, 61)
    delta = np.abs(eps - 0.7)
    xi = np.where(eps < 0.7, 0.5, 2.0) * np.where(delta > 0, delta, np.inf) ** -1.5
    both = fit_nu(eps, xi, None, None, 0.7, r_max=1e9, xi_min=0)
    assert both.nu == pytest.approx(1.5) and both.err == pytest.approx(0, abs=1e-9)
    assert both.amplitude_below == pytest.approx(0.5) and both.amplitude_above == pytest.approx(2.0)
    above = fit_nu(eps, xi, None, None, 0.7, r_max=1e9, side="above", xi_min=0)
    assert above.nu == pytest.approx(1.5) and np.isnan(above.amplitude_below)
    assert above.delta_range[1] == pytest.approx(0.3)


def test_nu_too_few_points_and_refusals():
    eps = np.array([0.5, 0.6, 0.8])
    fit = fit_nu(eps, [1e6, 1e6, 2.0], None, None, 0.7, r_max=100)  # two saturated
    assert np.isnan(fit.nu) and "too few points" in fit.method
    with pytest.raises(ValueError, match="eps_star"):
        fit_nu(eps, [1, 2, 3], None, None, None, r_max=100)
    with pytest.raises(ValueError, match="side"):
        fit_nu(eps, [1, 2, 3], None, None, 0.7, r_max=100, side="left")
    with pytest.raises(ValueError, match="r_max"):
        fit_nu(eps, [1, 2, 3], None, None, 0.7, r_max=0)


# ----------------------------------------------------------------------------- collapse
def scaling_curves(rng, a=1.0, nu=1.9, eps_star=0.7, rel=0.03, r=2.0 ** np.arange(1, 11) - 1):
    """C(r) = r^-a exp(-r / xi) with xi = |eps - eps*|^-nu, several noises, noisy; r the tree's
    distances by default."""
    out = []
    for eps in (0.5, 0.55, 0.6, 0.65):
        xi = abs(eps - eps_star) ** -nu
        C = r**-a * np.exp(-r / xi) * (1 + rel * rng.standard_normal(r.size))
        out.append((r, C, xi, rel * C))
    return out


def _score(data, a, nu_scale=1.0):
    return collapse_quality([(r / xi**nu_scale, C * r**a, dC * r**a) for r, C, xi, dC in data])


def test_collapse_quality_about_one_for_a_true_collapse_on_a_dense_grid():
    data = scaling_curves(np.random.default_rng(1), r=np.unique(np.geomspace(1, 1000, 60).round()))
    best = _score(data, 1.0)
    assert best.weighted and best.n_overlaps > 50
    assert 0.3 < best.score < 3  # within errors: S about 1
    assert _score(data, 0.8).score > 10 and _score(data, 1.0, 0.8).score > 10
    unweighted = collapse_quality([(r / xi, C * r) for r, C, xi, _ in data])
    assert not unweighted.weighted and unweighted.score < 0.01


def test_collapse_quality_is_smallest_at_the_true_exponents_on_the_tree():
    # r = 2^k - 1: interpolating between points a factor 2 apart adds its own error, so S is
    # well above 1 even for the true exponents; it is still smallest there
    data = scaling_curves(np.random.default_rng(1))
    scores = {(a, ns): _score(data, a, ns).score for a in (0.7, 0.9, 1.0, 1.1, 1.3)
              for ns in (0.8, 1.0, 1.2)}
    assert min(scores, key=scores.get) == (1.0, 1.0)
    best = scores[(1.0, 1.0)]
    assert min(scores[(0.7, 1.0)], scores[(1.3, 1.0)]) > 2 * best
    assert min(scores[(1.0, 0.8)], scores[(1.0, 1.2)]) > 5 * best


def test_collapse_quality_without_overlap_and_linear_axes():
    assert np.isnan(collapse_quality([([1, 2], [1, 1]), ([3, 4], [1, 1])]).score)
    # class curves against (eps - eps*) d^(1/nu): linear axes, negative x allowed
    lin = collapse_quality([([-1, 0, 1], [0.9, 0.5, 0.1]), ([-2, 0, 2], [1.3, 0.5, -0.3])],
                           log_x=False, log_y=False)
    assert lin.score == pytest.approx(0.0, abs=1e-20) and lin.n_overlaps == 4  # x = -2, 2 lie outside the first curve
    with pytest.raises(ValueError, match="curves\\[0\\]"):
        collapse_quality([([1, 2],)])


# ----------------------------------------------------------------------------- tables
def test_class_half_point_interpolates():
    assert class_half_point([0.1, 0.2, 0.3, 0.4], [1.0, 0.8, 0.4, 0.1]) == pytest.approx(0.275)
    assert np.isnan(class_half_point([0.1, 0.2], [0.9, 0.8]))
    assert np.isnan(class_half_point([0.1, 0.2], [np.nan, np.nan]))


def synthetic_tables(eps_star=0.7312, nu=1.893, a=1.0, L=10, s=2, rule_seeds=(0,)):
    """Tables in the sweeps' schema with a known chi peak, C(r) ~ r^-a at the peak and
    xi = |eps - eps*|^-nu (saturating), for the epsilon and masking processes."""
    grid = np.round(np.linspace(0.5, 1.0, 51), 6)
    r = s ** np.arange(L + 1) - 1.0
    cor, sus = [], []
    for rule_seed in rule_seeds:
        rng = np.random.default_rng(rule_seed)
        for process in ("epsilon", "masking"):
            for eps in grid:
                delta = abs(eps - eps_star)
                bulk = (0.6 if eps < eps_star else 0.9) * max(delta, 1e-9) ** -nu
                xi = bulk / (1 + (bulk / (r[-1] / 3)) ** 4) ** 0.25
                chi = 1 + 50 * np.exp(-((eps - 0.74) / 0.05) ** 2)
                C = 0.3 * np.where(r > 0, r, 1) ** -a * np.exp(-r / xi)
                C *= 1 + 0.03 * rng.standard_normal(r.size)
                t = np.nan if process == "epsilon" else eps
                base = dict(family="rhm", experiment="main", model="bp", process=process, L=L,
                            rule_seed=rule_seed, noise=eps, t_over_T=t, level=L, n_x0=64,
                            n_traj=64)
                cor.append(pd.DataFrame(dict(base, distance=np.arange(L + 1), r=r, C=C,
                                             C_lo=C * (1 - Z95 * 0.03), C_hi=C * (1 + Z95 * 0.03))))
                sus.append(pd.DataFrame([dict(base, chi=chi, chi_lo=0.9 * chi, chi_hi=1.1 * chi,
                                              xi=xi, xi_lo=0.95 * xi, xi_hi=1.05 * xi,
                                              class_kept=1 / (1 + np.exp((eps - 0.8) / 0.02)))]))
    return pd.concat(cor, ignore_index=True), pd.concat(sus, ignore_index=True)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_correlation_exponents_recovers_the_planted_values():
    cor, sus = synthetic_tables()
    out = correlation_exponents(sus, cor, {"main": 0.7312}, nu_mean_field=1.893)
    assert list(out.columns) == EXPONENT_COLUMNS and len(out) == 2
    eps = out[out["process"] == "epsilon"].iloc[0]
    assert eps["peak_noise"] == pytest.approx(0.74)
    assert (eps["peak_noise_lo"], eps["peak_noise_hi"]) == pytest.approx((0.73, 0.75))
    assert eps["chi_max"] == pytest.approx(51) and eps["chi_max_hi"] == pytest.approx(56.1)
    # at the peak C = r^-a exp(-r/xi): a power law bent down by the cut-off at xi ~ 90
    assert eps["a_spatial"] > 1.0 and eps["a_n_points"] == 10
    assert eps["a"] > 1.0 and eps["a_k_max"] >= 5
    # nu from the collapse lengths: a is fitted at the chi peak, which is planted off eps*
    # (xi ~ 90 there), so a, and with it every length, is biased: nu comes out ~0.08 high
    assert abs(eps["nu"] - 1.893) < 0.12 and eps["nu_err"] < 0.1
    assert eps["nu_method"].startswith("collapse lengths")
    assert eps["nu_mean_field"] == 1.893 and eps["eps_star"] == 0.7312
    assert eps["class_half_noise"] == pytest.approx(0.8, abs=1e-3)
    masking = out[out["process"] == "masking"].iloc[0]
    assert np.isnan(masking["nu"]) and "not the epsilon process" in masking["nu_method"]
    assert masking["peak_noise"] == pytest.approx(0.74)
    none = correlation_exponents(sus, cor, {"main": None})
    assert none["nu"].isna().all()
    assert none.loc[none["process"] == "epsilon", "nu_method"].iloc[0] == "not fitted: no critical noise"


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_correlation_exponents_pools_rule_draws():
    cor, sus = synthetic_tables(rule_seeds=(0, 1))
    out = correlation_exponents(sus, cor, 0.7312)
    assert (out["n_rule_seeds"] == 2).all()
    one = sus[(sus["rule_seed"] == 0)]
    pooled = pool_rule_seeds(sus, ["process", "noise"], ["chi"])
    # identical chi in both draws: the mean is that chi, the half-width shrinks by sqrt(2)
    first = pooled.iloc[0]
    ref = one.sort_values(["process", "noise"]).iloc[0]
    assert first["chi"] == pytest.approx(ref["chi"])
    assert first["chi_hi"] - first["chi"] == pytest.approx((ref["chi_hi"] - ref["chi"]) / np.sqrt(2))
    assert first["n_x0"] == 128


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_correlation_exponents_on_exact_bp_tables():
    from test_plots_correlations import all_tables
    cor, sus = all_tables(Ls=(4,), grid=np.linspace(0.3, 1.0, 8))
    out = correlation_exponents(sus, cor, {"main": 0.6, "no_transition": None})
    assert set(out["family"]) == {"rhm", "gaussian_field", "flat_mixture"}
    gf = out[out["family"] == "gaussian_field"].iloc[0]
    assert pd.isna(gf["L"]) and np.isnan(gf["class_half_noise"]) and np.isnan(gf["nu"])
    main = out[(out["experiment"] == "main") & (out["model"] == "bp")]
    assert main["chi_max"].notna().all() and (main["chi_max"] >= 1).all()
    assert main["a_n_points"].ge(2).all()
    assert (main["peak_noise_lo"] <= main["peak_noise"]).all()
    assert (main["peak_noise"] <= main["peak_noise_hi"]).all()
    mf = out[out["model"] == "mean_field"]
    assert set(mf["process"]) == {"epsilon"}
    # mean-field rows carry their exponent in nu_mean_field, not a fit of noiseless curves
    assert mf["nu"].isna().all() and mf["nu_method"].str.contains("mean-field rows").all()
    assert (main["n_rule_seeds"] == 1).all()
    with pytest.raises(ValueError, match="lacks the columns \\['class_kept'\\]"):
        correlation_exponents(sus.drop(columns="class_kept"), cor, 0.6)


# ----------------------------------------------------------------------------- collapse lengths
from hierphase.scaling import collapse_lengths, nu_fits  # noqa: E402

EPS_STAR, NU, A_XI = 0.7312, 1.5, 1.0


def synthetic_correlations(rng, *, a=0.9, nu=NU, levels=10, rel=0.04, floor=2e-6,
                           amplitude=0.2):
    """C(r) = A r^-a exp(-r/xi) at the tree's distances, xi = A_XI |eps - eps*|^-nu on the
    paper's grid (33 noises in 0.5..1.0); each bin with noise sigma = rel C + floor drawn
    around it and its 95% interval as the bootstrap gives it. Returns the table and true xi."""
    noise = np.linspace(0.5, 1.0, 33)
    r = 2.0 ** np.arange(levels + 1) - 1
    rows, true_xi = [], {}
    for n in noise:
        xi = A_XI * abs(n - EPS_STAR) ** -nu
        true_xi[n] = xi
        C = amplitude * np.where(r > 0, r, 1.0) ** -a * np.exp(-r / xi)
        sigma = rel * C + floor
        obs = C + sigma * rng.standard_normal(r.size)
        rows.append(pd.DataFrame({"noise": n, "distance": np.arange(levels + 1), "r": r,
                                  "C": obs, "C_lo": obs - Z95 * sigma, "C_hi": obs + Z95 * sigma}))
    return pd.concat(rows, ignore_index=True), pd.Series(true_xi)


def test_collapse_lengths_recover_xi():
    cor, true_xi = synthetic_correlations(np.random.default_rng(1))
    t = collapse_lengths(cor, a=0.9, n_boot=0)
    ratio = np.log(t["xi"].to_numpy() / true_xi.loc[t["noise"]].to_numpy())
    resolved = true_xi.loc[t["noise"]].between(1.5, 200).to_numpy()
    assert resolved.sum() >= 15
    # G(x) = exp(-x) is the cutoff of the fit: the constant is 1 for every resolved noise
    assert np.std(ratio[resolved]) < 0.1
    assert np.exp(np.median(ratio[resolved])) == pytest.approx(1, rel=0.1)
    assert not t.loc[resolved, "saturated"].any()
    assert t.loc[true_xi.loc[t["noise"]].to_numpy() > 5000, "saturated"].all()


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_nu_from_collapse_lengths_recovers_the_truth_with_errors_of_the_right_size():
    nus, errs = [], []
    for seed in range(8):
        cor, _ = synthetic_correlations(np.random.default_rng(100 + seed))
        t = collapse_lengths(cor, peak_noise=0.734375, n_boot=30, seed=seed)  # a fitted
        t = t.assign(L=10, r_max=1023.0)
        fit = nu_fits(None, None, "x", EPS_STAR, lengths=t)[10]
        assert np.isfinite(fit.nu) and fit.err > 0 and fit.n_points >= 6
        nus.append(fit.nu)
        errs.append(fit.err)
    nus, err = np.asarray(nus), float(np.median(errs))
    assert np.all(np.abs(nus - NU) < 0.05), nus
    assert np.median(nus) == pytest.approx(NU, abs=0.03)
    # the scatter between replicates is what err says, within a factor 3 (it is somewhat
    # larger: the per-noise intervals share a, refitted in each draw, and are fitted as
    # independent; a fitted at the peak, where exp(-r/xi) still bends C, is biased up by ~0.02)
    assert err / 3 < np.std(nus, ddof=1) < 3 * err, (nus, errs)


def test_collapse_lengths_with_nan_negative_and_empty_bins():
    rng = np.random.default_rng(3)
    cor, _ = synthetic_correlations(rng)
    clean = collapse_lengths(cor, a=0.9, n_boot=0)
    dirty = cor.copy()
    far = dirty["noise"] == dirty["noise"].max()  # the noise with the shortest xi
    tail = dirty["r"] >= 255
    dirty.loc[tail, "C"] = np.where(rng.random(tail.sum()) < 0.5, np.nan, -1e-5)
    dirty.loc[far & (dirty["r"] >= 3), "C"] = -1e-6  # one significant bin left: no length
    t = collapse_lengths(dirty, a=0.9, n_boot=10)
    no_length = t[t["noise"] == cor["noise"].max()]
    assert no_length[["xi", "xi_lo", "xi_hi", "amplitude"]].isna().all(axis=None)
    ok = t["xi"].notna() & ~t["saturated"] & clean["xi"].between(2, 100)
    assert ok.sum() >= 10
    assert np.allclose(np.log(t.loc[ok, "xi"]), np.log(clean.loc[ok, "xi"]), atol=0.3)
    assert (t.loc[ok, "xi_lo"] <= t.loc[ok, "xi"]).all() and (t.loc[ok, "xi"] <= t.loc[ok, "xi_hi"]).all()
    with pytest.raises(ValueError, match="exponent a or the peak_noise"):
        collapse_lengths(cor)
    with pytest.raises(ValueError, match="not a noise"):
        collapse_lengths(cor, peak_noise=0.123)


# ----------------------------------------------------------------------------- finite-size scaling
def test_level_crossing_error_is_the_delta_method():
    x, y = np.array([0.1, 0.2, 0.3]), np.array([0.9, 0.7, 0.3])
    sigma = np.array([0.01, 0.02, 0.04])
    found, err = level_crossing(x, y, 0.5, sigma)
    assert found == pytest.approx(0.25)
    # x = x1 + h (0.5 - y1) / (y2 - y1): derivatives -h (1 - w) / D and -h w / D, w = 1/2
    h, D, w = 0.1, -0.4, 0.5
    assert err == pytest.approx(abs(h / D) * np.hypot((1 - w) * 0.02, w * 0.04))
    assert np.isnan(level_crossing(x, y, 0.5)[1])  # no sigma, no error
    assert all(np.isnan(level_crossing(x, y, 0.95, sigma)))


def test_half_point_error_matches_monte_carlo():
    """Redraw a noisy class curve many times: the spread of its half points is the error."""
    rng = np.random.default_rng(1)
    noise = np.linspace(0.5, 0.9, 9)
    true = 1 / (1 + np.exp((noise - 0.72) / 0.05))  # crossing inside a bracket
    sigma = 0.02 * np.ones_like(noise)
    eps, err = half_point_error(noise, true, true - Z95 * sigma, true + Z95 * sigma)
    assert eps == pytest.approx(0.72, abs=2e-3)  # linear interpolation of a sigmoid
    draws = [class_half_point(noise, true + sigma * rng.standard_normal(noise.size))
             for _ in range(4000)]
    assert err == pytest.approx(np.std(draws), rel=0.1)
    assert all(np.isnan(half_point_error([0.1, 0.2], [0.9, 0.8], [0.8, 0.7], [1.0, 0.9])))


def synthetic_half_points(rng, eps_star=0.73, amplitude=-0.4, nu=1.9, s=2, Ls=range(2, 13),
                          err=0.002):
    L = np.asarray(list(Ls), dtype=float)
    sigma = np.full(L.size, err)
    return L, eps_star + amplitude * (s**L) ** (-1 / nu) + sigma * rng.standard_normal(L.size), sigma


def test_extrapolate_eps_star_exact_points():
    L, y, _ = synthetic_half_points(np.random.default_rng(0), err=0.0)
    fit = extrapolate_eps_star(L, y, s=2)
    assert fit.eps_star == pytest.approx(0.73, abs=1e-9) and fit.nu == pytest.approx(1.9, rel=1e-7)
    assert fit.amplitude == pytest.approx(-0.4, rel=1e-7)
    assert (fit.L_min, fit.L_max, fit.n_points) == (2, 12, 11)
    assert fit.eps_star_err < 1e-8 and fit.nu_err < 1e-6  # unweighted: residuals are zero


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_extrapolate_eps_star_recovers_parameters_within_errors():
    hits_e, hits_nu, errs = 0, 0, []
    for seed in range(60):
        L, y, sigma = synthetic_half_points(np.random.default_rng(seed), s=3, Ls=range(2, 10),
                                            amplitude=-0.3, err=0.001)
        fit = extrapolate_eps_star(L, y, sigma, s=3)
        hits_e += abs(fit.eps_star - 0.73) <= 2 * fit.eps_star_err
        hits_nu += abs(fit.nu - 1.9) <= 2 * fit.nu_err
        errs.append(fit.eps_star_err)
    assert hits_e >= 50 and hits_nu >= 50, (hits_e, hits_nu)
    assert 1e-4 < np.median(errs) < 0.01


def test_extrapolate_eps_star_fixed_nu_is_linear_least_squares():
    rng = np.random.default_rng(3)
    L, y, sigma = synthetic_half_points(rng, Ls=range(3, 9), err=0.003)
    fit = extrapolate_eps_star(L, y, sigma, s=2, nu=1.9)
    X = np.column_stack([np.ones(L.size), 2.0 ** (-L / 1.9)])
    W = np.diag(sigma**-2)
    beta = np.linalg.solve(X.T @ W @ X, X.T @ W @ y)
    chi2_red = float((y - X @ beta) @ W @ (y - X @ beta)) / (L.size - 2)
    cov = np.linalg.inv(X.T @ W @ X) * max(1.0, chi2_red)
    assert fit.eps_star == pytest.approx(beta[0], rel=1e-10)
    assert fit.amplitude == pytest.approx(beta[1], rel=1e-8)
    assert fit.eps_star_err == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-8)
    assert fit.nu == 1.9 and np.isnan(fit.nu_err)
    # two points are enough when nu is held
    two = extrapolate_eps_star(L[:2], y[:2], sigma[:2], s=2, nu=1.9)
    assert np.isfinite(two.eps_star) and two.n_points == 2


def test_extrapolate_eps_star_too_few_points_is_nan():
    L, y, sigma = synthetic_half_points(np.random.default_rng(0), Ls=range(2, 5))
    fit = extrapolate_eps_star(L, y, sigma, s=2)  # three points, three parameters
    assert np.isnan(fit.eps_star) and np.isnan(fit.nu) and np.isnan(fit.eps_star_err)
    assert (fit.n_points, fit.L_min, fit.L_max) == (3, 2, 4)
    y[1] = np.nan
    assert extrapolate_eps_star(L, y, sigma, s=2, nu=2.0).n_points == 2
    one = extrapolate_eps_star([5], [0.7], s=2, nu=2.0)
    assert np.isnan(one.eps_star) and one.nu == 2.0
    empty = extrapolate_eps_star([], [], s=2)
    assert empty.n_points == 0 and np.isnan(empty.L_min)
    with pytest.raises(ValueError, match="s must be"):
        extrapolate_eps_star(L, y, s=1)


def test_mean_field_half_points_extrapolate_to_eps_star():
    """The mean-field class curves of v=32 m=8 s=2, L = 2..14: their half points (found on the
    curves themselves) converge to eps* = 0.7312; the 90-10% width shrinks like d^(-1/nu)."""
    from scipy.optimize import brentq

    from hierphase import theory

    v, m, s = 32, 8, 2
    Ls = np.arange(2, 15)

    def crossing(L, level):  # normalised class kept (kept - 1/v) / (1 - 1/v) through level
        return brentq(lambda e: (theory.class_reconstruction(e, v, m, s, L) - 1 / v)
                      / (1 - 1 / v) - level, 0.0, 1.0, xtol=1e-14)

    half = [brentq(lambda e: theory.class_reconstruction(e, v, m, s, L) - 0.5, 0.0, 1.0,
                   xtol=1e-14) for L in Ls]
    fit = extrapolate_eps_star(Ls, half, s=s)
    assert fit.eps_star == pytest.approx(theory.critical_noise(v, m, s), abs=1e-3)
    assert theory.critical_noise(v, m, s) == pytest.approx(0.7312, abs=1e-4)
    assert fit.nu == pytest.approx(theory.nu(v, m, s), abs=0.1)
    width = np.array([crossing(L, 0.1) - crossing(L, 0.9) for L in Ls])
    pl = fit_power_law(float(s) ** Ls[Ls >= 6], width[Ls >= 6])
    assert 1 / pl.exponent == pytest.approx(theory.nu(v, m, s), abs=0.05)


# ----------------------------------------------------------------------------- per tree level
def test_per_level_fit_reads_a_geometric_decay_exactly_where_the_spatial_fit_bends():
    k = np.arange(0, 10)
    C = 0.4 * 2.0 ** (-0.93 * k)  # C(k+1)/C(k) = 2**-0.93
    fit = fit_per_level(k, C, s=2, k_min=1)
    assert fit.exponent == pytest.approx(0.93, abs=1e-12) and fit.n_points == 9
    assert fit.r_range == (2.0, 512.0)
    # the same numbers on r = 2**k - 1: log r bends at small k, the slope comes out lower
    spatial = fit_power_law(2.0**k - 1, C, r_min=1)
    assert spatial.exponent < 0.85 and spatial.chi2_red > 0
    with pytest.raises(ValueError, match="s must"):
        fit_per_level(k, C, s=1)
    with pytest.raises(ValueError, match="k_max"):
        fit_per_level(k, C, s=2, k_min=3, k_max=2)


def test_significant_levels_stops_at_the_first_level_at_the_noise_floor():
    k = np.arange(6)
    C = np.array([1.0, 0.5, 0.25, 0.01, 0.2, 0.1])
    sigma = np.full(6, 0.02)
    assert significant_levels(k, C, C - Z95 * sigma, C + Z95 * sigma) == 2
    assert significant_levels(k, C) == 5  # no intervals: positive is enough
    assert significant_levels(k, -C) is None


def _theory_tables(L, eps_grid, rel=0.02, seed=0):
    """Exact-BP-like tables made of the mean-field theory itself (model "bp", with 2% intervals)
    next to the mean-field rows: a per-level fit must read the theory's own ratio."""
    rng = np.random.default_rng(seed)
    corr, chi = theory.mean_field_correlation_tables(eps_grid, 32, 8, 2, L)
    keys = dict(family="rhm", experiment="main", process="epsilon", L=L, t_over_T=np.nan)
    bp_c = corr.assign(**keys, model="bp", rule_seed=0)
    bp_c["C"] = bp_c["C"] * (1 + rel * rng.standard_normal(len(bp_c)))
    bp_c["C_lo"], bp_c["C_hi"] = bp_c["C"] * (1 - Z95 * rel), bp_c["C"] * (1 + Z95 * rel)
    mf_c = corr.assign(**keys, model="mean_field", rule_seed=pd.NA)
    bp_s = chi.assign(**keys, model="bp", rule_seed=0, class_kept=0.5)
    mf_s = chi.assign(**keys, model="mean_field", rule_seed=pd.NA, class_kept=0.5)
    return pd.concat([bp_c, mf_c], ignore_index=True), pd.concat([bp_s, mf_s], ignore_index=True)


def test_level_exponents_against_mean_field_at_its_critical_point():
    eps_star = theory.critical_noise(32, 8, 2)
    a_inf = theory.correlation_exponent(32, 8, 2)
    cor, sus = _theory_tables(24, [0.70, eps_star, 0.76])
    out = level_exponents(cor, sus, a_infinite={"main": a_inf}, min_points=4)
    assert list(out.columns) == LEVEL_EXPONENT_COLUMNS
    assert (out["peak_noise"] == eps_star).all() and (out["s"] == 2).all()
    # deep inside the tree (far from the leaves and the root) the ratio is lambda(p*)^2
    deep = out[(out["k_min"] == 6) & (out["k_max"] == 12)].iloc[0]
    assert deep["a_mean_field"] == pytest.approx(a_inf, abs=0.01)
    assert deep["a"] == pytest.approx(deep["a_mean_field"], abs=0.03)
    assert deep["chi2_dof"] < 3 and deep["a_mean_field_infinite"] == a_inf
    # every window has enough points and ends at or before the last significant level
    assert (out["k_max"] - out["k_min"] + 1 >= 4).all()
    assert (out["k_max"] <= out["k_significant"]).all()
    with pytest.raises(ValueError, match="min_points"):
        level_exponents(cor, sus, min_points=1)


def test_fit_with_correction_recovers_a_planted_correction_that_biases_the_plain_fit():
    L = np.arange(3, 13, dtype=float)
    x = 2.0 ** (-L / 1.9)
    y = 0.7312 - 0.4 * x * (1 + 1.5 * x)
    fit = fit_with_correction(L, y, s=2)
    assert fit.offset == pytest.approx(0.7312, abs=1e-8) and fit.nu == pytest.approx(1.9, rel=1e-6)
    assert fit.correction == pytest.approx(1.5, rel=1e-5) and fit.n_points == 10
    plain = extrapolate_eps_star(L, y, s=2)
    assert abs(plain.nu - 1.9) > 0.05  # the correction biases the uncorrected exponent
    width = 0.3 * x * (1 - 0.8 * x)
    w = fit_with_correction(L, width, s=2, offset=False)
    assert np.isnan(w.offset) and w.nu == pytest.approx(1.9, rel=1e-6)
    assert w.correction == pytest.approx(-0.8, rel=1e-5)
    held = fit_with_correction(L, 0.3 * x * (1 + 2.0 * 2.0 ** (-L)), s=2, offset=False, omega=1.0)
    assert held.nu == pytest.approx(1.9, rel=1e-6) and held.omega == 1.0
    # noisy points with their errors: within a few standard errors
    rng = np.random.default_rng(1)
    err = np.full(L.size, 2e-5)
    noisy = fit_with_correction(L, y + err * rng.standard_normal(L.size), err, s=2)
    assert abs(noisy.offset - 0.7312) < 4 * noisy.offset_err
    assert np.isnan(fit_with_correction(L[:4], y[:4], s=2).offset)
    with pytest.raises(ValueError, match="omega"):
        fit_with_correction(L, y, s=2, omega=-1.0)


def test_nu_fits_leave_out_a_depth_whose_every_length_saturated():
    """A depth whose lengths all run past its tree (saturated) has nothing to fit: no entry for
    it, where it once raised on a NaN r_max; the other depth is fitted as before."""
    noise = np.linspace(0.6, 0.9, 13)
    xi = 2.0 * np.abs(noise - EPS_STAR) ** -NU
    base = pd.DataFrame({"noise": noise, "xi": xi, "xi_lo": 0.9 * xi, "xi_hi": 1.1 * xi,
                         "amplitude": 1.0, "n_points": 8, "a": 0.9, "a_err": 0.01})
    t = pd.concat([base.assign(L=10, r_max=1023.0, saturated=False),
                   base.assign(L=4, r_max=15.0, saturated=True)], ignore_index=True)
    fits = nu_fits(None, None, "x", EPS_STAR, lengths=t)
    assert 4 not in fits and 10 in fits
    alone = nu_fits(None, None, "x", EPS_STAR, lengths=t[t["L"] == 10])
    assert fits[10].nu == alone[10].nu
