"""hierphase.finite_size: the class curve's half points, widths and crossings, their fits, checked
against closed forms and the mean-field curves; the stage's scaling table; the plan checks."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from hierphase import theory
from hierphase.scaling import level_crossings
from hierphase.finite_size import (ESTIMATORS, PER_DRAW_ESTIMATOR, Curve, check_plan,
                                   collapse_curves, curve_points, normalised_kept,
                                   per_draw_width_fit, scaling_fits)
from hierphase.stages.rhm import finite_size_scaling
from hierphase.stats import wilson_interval
from hierphase.tables import SCALING_COLUMNS, SCALING_POINT_COLUMNS

V, M, S = 32, 8, 2
EPS_STAR, NU = theory.critical_noise(V, M, S), theory.nu(V, M, S)


def mean_field(depths, grid):
    return {L: Curve(grid, theory.class_reconstruction(grid, V, M, S, L)) for L in depths}


def exact_level(L, level):
    """Noise where the normalised mean-field class curve falls through ``level``."""
    return brentq(lambda e: normalised_kept(theory.class_reconstruction(e, V, M, S, L), V) - level,
                  0.0, 1.0, xtol=1e-14)


def fits_by_estimator(points, **kw):
    return {row["estimator"]: row for row in scaling_fits(points, s=S, **kw)}


def test_normalised_kept():
    assert normalised_kept([1.0, 1 / 32, 0.5], 32) == pytest.approx([1.0, 0.0, (0.5 - 1 / 32) / (1 - 1 / 32)])
    with pytest.raises(ValueError, match="n_classes"):
        normalised_kept([0.5], 1)


def test_mean_field_points_on_a_fine_grid():
    """Every crossing of two mean-field curves is eps*; half points and widths are those of the
    curves themselves (up to the linear interpolation on a 1e-4 grid)."""
    grid = np.linspace(0.0, 1.0, 10001)
    points = curve_points(mean_field(range(2, 9), grid), V, experiment="e", process="epsilon",
                          model="mean_field")
    assert list(points.columns) == SCALING_POINT_COLUMNS and len(points) == 7
    assert points["crossing"].iloc[:-1].to_numpy() == pytest.approx(EPS_STAR, abs=1e-5)
    assert pd.isna(points["crossing"].iloc[-1]) and points["next_L"].iloc[0] == 3
    for _, row in points.iterrows():
        half = brentq(lambda e: theory.class_reconstruction(e, V, M, S, row["L"]) - 0.5, 0, 1)
        assert row["eps_half"] == pytest.approx(half, abs=1e-6)
        assert row["width"] == pytest.approx(exact_level(row["L"], 0.1) - exact_level(row["L"], 0.9),
                                             abs=1e-6)
    assert points["eps_half_err"].isna().all()  # exact curves carry no error


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_mean_field_fits_recover_eps_star_and_nu():
    """L = 2..14: the half points extrapolate to eps* within 1e-3, the crossings sit on it, and
    the width gives nu within 0.05 from the depths where corrections to scaling are small."""
    grid = np.linspace(0.0, 1.0, 20001)
    points = curve_points(mean_field(range(2, 15), grid), V, experiment="e", process="epsilon",
                          model="mean_field")
    fits = fits_by_estimator(points)
    assert fits["half_point"]["eps_star"] == pytest.approx(EPS_STAR, abs=1e-3)
    assert fits["crossing"]["eps_star"] == pytest.approx(EPS_STAR, abs=1e-5)
    assert fits["crossing"]["n_points"] == 12
    deep = fits_by_estimator(points, L_min=6)
    assert deep["width"]["nu"] == pytest.approx(NU, abs=0.05)
    assert (deep["width"]["L_min"], deep["width"]["L_max"], deep["width"]["n_points"]) == (6, 14, 9)
    # at depths 2..8 the width's effective exponent is still well above the asymptotic one
    shallow = fits_by_estimator(points, L_max=8)
    assert shallow["width"]["nu"] > NU + 0.1
    # over 4..12 the correction to scaling, fitted, brings the half points' nu to mean field's
    mid = fits_by_estimator(points, L_min=4, L_max=12)
    corrected, plain = mid["half_point_corrected"], mid["half_point"]
    assert corrected["eps_star"] == pytest.approx(EPS_STAR, abs=2e-5)
    assert corrected["nu"] == pytest.approx(NU, abs=0.01)
    assert abs(plain["nu"] - NU) > 3 * abs(corrected["nu"] - NU)
    assert (corrected["L_min"], corrected["L_max"], corrected["n_points"]) == (4, 12, 9)


def closed_form_points(rng, e=0.7, A=-0.5, B=1.3, nu=1.7, depths=range(2, 11), err=0.002):
    L = np.asarray(list(depths))
    d = float(S) ** L
    sigma = np.full(L.size, err)
    return pd.DataFrame({
        "L": L, "eps_half": e + A * d ** (-1 / nu) + sigma * rng.standard_normal(L.size),
        "eps_half_err": sigma,
        "width": B * d ** (-1 / nu) * np.exp(0.02 * rng.standard_normal(L.size)),
        "width_err": 0.02 * B * d ** (-1 / nu),
        "next_L": pd.array(list(L[1:]) + [pd.NA], dtype="Int64"),
        "crossing": np.r_[e + sigma[1:] * rng.standard_normal(L.size - 1), np.nan],
        "crossing_err": np.r_[sigma[1:], np.nan]})


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_fits_of_closed_forms_recover_their_parameters():
    hits = {"half_point": 0, "width": 0, "crossing": 0}
    for seed in range(40):
        fits = fits_by_estimator(closed_form_points(np.random.default_rng(seed)))
        assert list(fits) == list(ESTIMATORS)
        hits["half_point"] += abs(fits["half_point"]["eps_star"] - 0.7) <= 2 * fits["half_point"]["eps_star_err"]
        hits["width"] += abs(fits["width"]["nu"] - 1.7) <= 2 * fits["width"]["nu_err"]
        hits["crossing"] += abs(fits["crossing"]["eps_star"] - 0.7) <= 2 * fits["crossing"]["eps_star_err"]
        assert np.isnan(fits["width"]["eps_star"]) and np.isnan(fits["crossing"]["nu"])
        assert fits["half_point_width_nu"]["nu"] == fits["width"]["nu"]
    assert min(hits.values()) >= 33, hits


def test_fits_respect_the_depth_range_and_say_when_impossible():
    points = closed_form_points(np.random.default_rng(0))
    fits = fits_by_estimator(points, L_min=4, L_max=8)
    assert (fits["half_point"]["L_min"], fits["half_point"]["L_max"]) == (4, 8)
    assert fits["half_point"]["n_points"] == 5
    assert fits["crossing"]["n_points"] == 4  # pairs (4,5) .. (7,8): both depths in range
    three = fits_by_estimator(points, L_min=8)
    assert np.isnan(three["half_point"]["eps_star"])  # three depths, three parameters
    assert np.isfinite(three["half_point_width_nu"]["eps_star"])  # two parameters
    assert three["width"]["n_points"] == 3 and np.isfinite(three["width"]["nu_err"])
    none = fits_by_estimator(points, L_min=20)
    assert all(row["n_points"] == 0 for row in none.values())
    assert all(np.isnan(row["eps_star"]) for row in none.values())


def test_crossing_error_matches_monte_carlo():
    grid = np.linspace(0.6, 0.85, 11)
    shallow = 1 / (1 + np.exp((grid - 0.73) / 0.04))
    deep = 1 / (1 + np.exp((grid - 0.73) / 0.02))
    sigma = np.full(grid.size, 0.01)
    rng = np.random.default_rng(2)
    point = curve_points({3: Curve(grid, shallow, sigma), 4: Curve(grid, deep, sigma)}, 2).iloc[0]
    # the crossing is where the difference of the two curves falls through 0 (the fall nearest
    # the true one: far from it the curves are flat and noise makes them cross at random)
    draws = []
    for _ in range(3000):
        diff = deep - shallow + np.sqrt(2) * sigma * rng.standard_normal(grid.size)
        found = level_crossings(grid, diff, 0.0, direction="down")
        draws.append(min((c[0] for c in found), key=lambda x: abs(x - 0.73)))
    assert point["crossing"] == pytest.approx(0.73, abs=2e-3)
    assert point["crossing_err"] == pytest.approx(np.nanstd(draws), rel=0.15)


def test_curves_that_only_touch_do_not_cross():
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    shallow = np.array([1.0, 0.8, 0.5, 0.3, 0.125])
    deep = np.array([1.0, 0.9, 0.6, 0.35, 0.125])  # above everywhere, equal at both ends
    point = curve_points({2: Curve(grid, shallow), 3: Curve(grid, deep)}, 8).iloc[0]
    assert pd.isna(point["crossing"])


def test_collapse_is_best_at_the_mean_field_exponents():
    grid = np.linspace(0.5, 0.9, 81)
    curves = mean_field(range(6, 13), grid)
    right = collapse_curves(curves, EPS_STAR, NU, S)[1].score
    for eps, nu in ((EPS_STAR, 1.3 * NU), (EPS_STAR - 0.01, NU)):
        assert collapse_curves(curves, eps, nu, S)[1].score > 5 * right
    scaled, _ = collapse_curves(curves, EPS_STAR, NU, S)
    x, y = scaled[8]
    assert x == pytest.approx((grid - EPS_STAR) * 2 ** (8 / NU)) and (y == curves[8].kept).all()


def synthetic_kept(depths=(3, 4, 5, 6), n=400, seeds=(0, 1)):
    """A kept table whose class curves are mean field (epsilon) or a logistic in t/T (masking),
    two rule draws, with a level-1 row the analysis must ignore."""
    rows = []
    eps_grid = np.round(np.linspace(0.0, 1.0, 41), 6)
    t_grid = np.round(np.linspace(0.0, 1.0, 41), 6)
    for seed in seeds:
        for L in depths:
            for process, grid in (("epsilon", eps_grid), ("masking", t_grid)):
                kept = (theory.class_reconstruction(grid, V, M, S, L) if process == "epsilon"
                        else 1 / V + (1 - 1 / V) / (1 + np.exp((grid - 0.27) * 2 ** (L / 2) * 4)))
                lo, hi = wilson_interval(kept * n, n)
                for level in (0, 1):
                    rows.append(pd.DataFrame({
                        "experiment": "main", "model": "bp", "process": process, "L": L,
                        "rule_seed": seed, "level": level, "noise": grid,
                        "t": np.nan if process == "epsilon" else grid * 1000,
                        "t_over_T": np.nan if process == "epsilon" else grid,
                        "kept_marginal": kept if level == 0 else 0.99, "kept_sampled": kept,
                        "ci_low": lo, "ci_high": hi, "n": n}))
    return pd.concat(rows, ignore_index=True)


def test_stage_scaling_table():
    kept = synthetic_kept()
    table, points = finite_size_scaling(kept, experiment="main", v=V, m=M, s=S, n_classes=V,
                                        processes=["epsilon", "masking"], L_min=3)
    assert list(table.columns) == SCALING_COLUMNS and list(points.columns) == SCALING_POINT_COLUMNS
    groups = table.groupby(["process", "model"]).size().to_dict()
    # exact BP also has the per-draw width (mean field has no draws)
    assert groups == {("epsilon", "bp"): 6, ("epsilon", "mean_field"): 5, ("masking", "bp"): 6}
    assert set(table.loc[table["model"] == "mean_field", "estimator"]) == set(ESTIMATORS)
    eps = table[table["process"] == "epsilon"]
    assert (eps["eps_star_mean_field"] == EPS_STAR).all() and (eps["nu_mean_field"] == NU).all()
    assert table.loc[table["process"] == "masking", "eps_star_mean_field"].isna().all()
    # four depths: too few for the corrected half points (four parameters and one to spare)
    corrected = table["estimator"] == "half_point_corrected"
    assert set(table.loc[~corrected, "L_range"]) == {"3-6"} and table["L_min"].dtype == "Int64"
    assert table.loc[corrected, "eps_star"].isna().all()
    # the BP curves here are the mean-field ones: same points, and errors where mean field has none
    bp = points[(points["process"] == "epsilon") & (points["model"] == "bp")].reset_index(drop=True)
    mf = points[points["model"] == "mean_field"].reset_index(drop=True)
    assert bp["eps_half"].to_numpy() == pytest.approx(mf["eps_half"].to_numpy(), abs=1e-12)
    assert (bp["eps_half_err"] > 0).all() and mf["eps_half_err"].isna().all()
    # the masking curves cross at t/T = 0.27 (their logistic's centre)
    masking = points[points["process"] == "masking"]
    assert masking["crossing"].dropna().to_numpy() == pytest.approx(0.27, abs=0.01)
    row = table[(table["process"] == "masking") & (table["estimator"] == "crossing")].iloc[0]
    assert row["eps_star"] == pytest.approx(0.27, abs=0.01) and row["n_points"] == 3
    # rule draws pooled: one draw alone gives the same curves (they are identical here)
    alone, _ = finite_size_scaling(kept[kept["rule_seed"] == 0], experiment="main", v=V, m=M, s=S,
                                   n_classes=V, processes=["epsilon", "masking"], L_min=3)
    assert np.allclose(alone["eps_star"], table["eps_star"], equal_nan=True)
    with pytest.raises(ValueError, match="gaussian"):
        finite_size_scaling(kept, experiment="main", v=V, m=M, s=S, n_classes=V,
                            processes=["gaussian"], L_min=3)


def shifted_logistic_kept(depths, shifts, nu, n=10**6):
    """A kept table of draws whose normalised class curves are one logistic in
    ``(eps - 0.73 - shift) d**(1/nu)``, ``d = 2**L``: every draw's 90-10% width is exactly
    ``2 log 9 d**(-1/nu)``, its half point shifted by the draw's ``shift`` (``{rule_seed:
    {L: shift}}``)."""
    grid = np.round(np.linspace(0.3, 1.0, 1401), 6)
    rows = []
    for seed, by_depth in shifts.items():
        for L in depths:
            x = (grid - 0.73 - by_depth[L]) * (2.0**L) ** (1 / nu)
            kept = 1 / V + (1 - 1 / V) / (1 + np.exp(x))
            lo, hi = wilson_interval(kept * n, n)
            rows.append(pd.DataFrame({
                "experiment": "scaling", "model": "bp", "process": "epsilon", "L": L,
                "rule_seed": seed, "level": 0, "noise": grid, "t": np.nan, "t_over_T": np.nan,
                "kept_marginal": kept, "kept_sampled": kept, "ci_low": lo, "ci_high": hi,
                "n": n}))
    return pd.concat(rows, ignore_index=True)


def test_per_draw_width_is_one_rhms_exponent_where_pooling_widens():
    """Three draws of one scaling form, their half points 0.01 apart at every depth (as RHMs of
    the same v, m, s are, relative to their widths): each draw's width gives nu exactly, the
    pooled curve's a larger nu (a mixture of shifted curves is wider, more so where they are
    narrow)."""
    depths, nu = [6, 7, 8, 9, 10], 1.9
    shifts = {seed: {L: 0.01 * (seed - 1) for L in depths} for seed in (0, 1, 2)}
    kept = shifted_logistic_kept(depths, shifts, nu)
    table, _ = finite_size_scaling(kept, experiment="scaling", v=V, m=M, s=S, n_classes=V,
                                   processes=["epsilon"], L_min=6)
    fits = table[table["model"] == "bp"].set_index("estimator")
    per_draw = fits.loc[PER_DRAW_ESTIMATOR]
    # interpolation on a 0.0005 grid: widths to about 1e-4 of the narrowest (0.03)
    assert per_draw["nu"] == pytest.approx(nu, abs=0.01)
    assert per_draw["nu_err"] < 0.005 and per_draw["L_range"] == "6-10"
    assert per_draw["n_points"] == 5 and np.isnan(per_draw["eps_star"])
    assert fits.loc["width", "nu"] > nu + 0.015
    # one draw alone: its own fit and error, the same as the pooled fit of that draw
    alone, _ = finite_size_scaling(kept[kept["rule_seed"] == 1], experiment="scaling", v=V, m=M,
                                   s=S, n_classes=V, processes=["epsilon"], L_min=6)
    alone = alone[alone["model"] == "bp"].set_index("estimator")
    assert alone.loc[PER_DRAW_ESTIMATOR, ["nu", "nu_err"]].tolist() == pytest.approx(
        alone.loc["width", ["nu", "nu_err"]].tolist())
    # draws whose widths differ: the mean of their exponents, the error their standard error
    nus = [1.8, 1.9, 2.05]
    points = {}
    for seed, draw_nu in enumerate(nus):
        one = shifted_logistic_kept(depths, {seed: {L: 0.0 for L in depths}}, draw_nu)
        curves = {L: Curve(g["noise"].to_numpy(), g["kept_marginal"].to_numpy(),
                           np.full(len(g), 1e-4)) for L, g in one.groupby("L")}
        points[seed] = curve_points(curves, V)
    row = per_draw_width_fit(points, s=S, L_min=7, L_max=9)
    assert row["estimator"] == PER_DRAW_ESTIMATOR and (row["L_min"], row["L_max"]) == (7, 9)
    assert row["nu"] == pytest.approx(np.mean(nus), abs=0.01)
    assert row["nu_err"] == pytest.approx(np.std(nus, ddof=1) / np.sqrt(3), rel=0.05)
    # the draws' own errors, when larger than their spread: carried into the mean
    noisy = {seed: p.assign(width_err=p["width"] * 0.2) for seed, p in points.items()}
    fits = [fits_by_estimator(p, L_min=7, L_max=9)["width"] for p in noisy.values()]
    row = per_draw_width_fit(noisy, s=S, L_min=7, L_max=9)
    carried = np.sqrt(sum(f["nu_err"] ** 2 for f in fits)) / 3
    assert carried > np.std(nus, ddof=1) / np.sqrt(3)
    assert row["nu_err"] == pytest.approx(carried)
    assert np.isnan(per_draw_width_fit({}, s=S)["nu"])


EXPERIMENTS = {"main": ([2, 3, 4, 5, 6, 7, 8], ["epsilon", "masking"]),
               "small": ([6, 8], ["epsilon"])}


@pytest.mark.parametrize("selected,processes,L_min,L_max,field", [
    (["mian"], ["epsilon"], 3, None, "experiments"),
    (["small"], ["masking"], 3, None, "processes"),
    (["main"], ["epsilon"], 9, None, "L_min"),
    (["main"], ["epsilon"], 7, None, "L_min"),
    (["main"], ["epsilon"], 3, 4, "L_max"),
    (["main"], ["epsilon"], 5, 4, "L_max"),
    (["small"], ["epsilon"], 2, None, "L_min"),
])
def test_check_plan_names_the_field(selected, processes, L_min, L_max, field):
    with pytest.raises(ValueError) as err:
        check_plan(EXPERIMENTS, selected, processes, L_min, L_max)
    assert str(err.value).startswith(field + " "), str(err.value)


def test_check_plan_returns_the_depths():
    assert check_plan(EXPERIMENTS, ["main"], ["epsilon", "masking"], 3, 6) == {"main": [3, 4, 5, 6]}
    assert check_plan(EXPERIMENTS, [], ["epsilon"], 3, None) == {}
