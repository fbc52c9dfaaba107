"""The grammars' phase diagram: the sharpening fit against numpy's weighted polynomial fit and
scipy's regression, the mean field's half point against a root found by bisection, and the rows
of synthetic finite-size points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from hierphase import theory
from hierphase.grammar.phase import mean_field_comparison, phase_rows, sharpening
from hierphase.tables import GRAMMAR_PHASE_COLUMNS


def test_sharpening_is_numpys_weighted_fit():
    n = np.array([16, 32, 64, 128])
    width = 0.4 * n ** -0.5 * np.array([1.0, 1.05, 0.97, 1.02])
    err = np.array([0.01, 0.008, 0.006, 0.004])
    slope, slope_err = sharpening(n, width, err)
    sigma = err / (width * np.log(2))
    coef, cov = np.polyfit(np.log2(n), np.log2(width), 1, w=1 / sigma, cov="unscaled")
    assert slope == pytest.approx(coef[0], rel=1e-12)
    assert slope_err == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-12)
    # a planted power law without scatter: the exponent itself
    assert sharpening(n, 0.4 * n ** -0.5, err)[0] == pytest.approx(-0.5, rel=1e-12)


def test_sharpening_without_errors_is_the_plain_regression():
    n = np.array([16, 32, 64])
    width = np.array([0.30, 0.22, 0.19])
    slope, slope_err = sharpening(n, width, [np.nan] * 3)
    fit = stats.linregress(np.log2(n), np.log2(width))
    assert (slope, slope_err) == pytest.approx((fit.slope, fit.stderr), rel=1e-12)
    assert np.isnan(sharpening([16, 32], [0.3, 0.2], [np.nan, np.nan])[1])
    assert np.isnan(sharpening([16, 32], [0.3, np.nan], [0.01, 0.01])[0])  # one usable width


def test_mean_field_half_point_and_gap():
    v, m, s, L = 8, 3, 2, 4
    noise = np.linspace(0.05, 0.95, 19)
    curve = theory.class_reconstruction(noise, v, m, s, L, n_classes=v)
    half, gap = mean_field_comparison(noise, curve + 0.01, {"v": v, "m": m, "s": s, "L": L}, v)
    root = optimize.brentq(lambda e: theory.class_reconstruction(e, v, m, s, L, n_classes=v)
                           - 0.5, 1e-6, 1 - 1e-6)
    assert half == pytest.approx(root, abs=1e-4)  # linear interpolation on a 4001-point grid
    assert gap == pytest.approx(0.01, abs=1e-12)


def _points(widths, errors, process="epsilon"):
    lengths = [16, 32, 64][:len(widths)]
    return pd.DataFrame({"experiment": "g", "process": process, "model": "grammar",
                         "length": lengths, "eps_half": [0.5, 0.52, 0.53][:len(widths)],
                         "eps_half_err": 0.01, "width": widths, "width_err": errors})


def _kept(lengths, process="epsilon", probability=None):
    noise = np.array([0.1, 0.5, 0.9])
    rows = []
    for n in lengths:
        p = np.array([0.95, 0.6, 0.3]) if probability is None else probability
        rows.append(pd.DataFrame({"model": "grammar", "observable": "root", "process": process,
                                  "length": n, "noise": noise, "probability": p}))
    return pd.concat(rows, ignore_index=True)


def test_rows_say_where_the_transition_sharpens():
    random = {"source": "random", "random": {"n_binary": 3, "overlap": 0.2, "law": "uniform",
                                             "zipf_exponent": 1.0}}
    points = pd.concat([_points([0.4, 0.28, 0.2], [0.01, 0.01, 0.01]),
                        _points([0.4, 0.41, 0.39], [0.02, 0.02, 0.02], "masking")])
    kept = pd.concat([_kept([16, 32, 64]), _kept([16, 32, 64], "masking")])
    rows = phase_rows("g", random, points, kept, n_classes=4)
    assert list(rows.columns) == GRAMMAR_PHASE_COLUMNS
    eps, mask = rows.set_index("process").loc["epsilon"], rows.set_index("process").loc["masking"]
    assert eps["sharp"] and eps["sharpening"] == pytest.approx(np.log2(0.2 / 0.4) / 2, abs=0.02)
    assert not mask["sharp"] and abs(mask["sharpening"]) < 2 * mask["sharpening_err"]
    assert (eps["length_min"], eps["length_max"], eps["width_last"]) == (16, 64, 0.2)
    assert (eps["noise_min"], eps["kept_clean"], eps["eps_half"]) == (0.1, 0.95, 0.53)
    assert eps["overlap"] == 0.2 and eps["law"] == "uniform"
    assert np.isnan(eps["mean_field_half"])  # not an RHM


def test_rhm_rows_carry_the_mean_field():
    rhm = {"v": 8, "m": 3, "s": 2, "L": 4, "n_classes": None}
    noise = np.array([0.1, 0.5, 0.9])
    exact = theory.class_reconstruction(noise, 8, 3, 2, 4, n_classes=8)
    kept = _kept([16], probability=exact)
    rows = phase_rows("r", {"source": "rhm", "rhm": rhm}, _points([0.3], [0.01]), kept, 8)
    row = rows.iloc[0]
    assert row["mean_field_gap"] == pytest.approx(0.0, abs=1e-12)
    assert 0 < row["mean_field_half"] < 1 and np.isnan(row["overlap"])
    assert np.isnan(row["sharpening"]) and not row["sharp"]  # one length: nothing to fit
