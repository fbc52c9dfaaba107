"""The grammars' phase diagram: the class curve's ends against brute-force enumeration, the
relative half point and width on planted curves, the sharpening fit against numpy's weighted
polynomial fit and scipy's regression, the mean field's half point against a root found by
bisection, and the rows of synthetic curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import torch

from hierphase import theory
from hierphase.grammar import make_grammar
from hierphase.grammar.phase import (class_anchors, mean_field_comparison,
                                     mean_field_sharpening, phase_rows, relative_points,
                                     rhm_families, sharpening)
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
    middle = 1 / v + 0.5 * (1 - 1 / v)  # half of the drop from 1 to chance
    root = optimize.brentq(lambda e: theory.class_reconstruction(e, v, m, s, L, n_classes=v)
                           - middle, 1e-6, 1 - 1e-6)
    assert half == pytest.approx(root, abs=1e-4)  # linear interpolation on a 4001-point grid
    assert gap == pytest.approx(0.01, abs=1e-12)


def _ambiguous():
    """S -> S S | A S | a | b; A -> S A | a | c (both roots, shared terminal a)."""
    return make_grammar([(0, 0, 0), (0, 1, 0), (1, 0, 1)], [0.3, 0.2, 0.4],
                        [[0.3, 0.2, 0.0], [0.35, 0.0, 0.25]], [0.7, 0.3],
                        nonterminals=["S", "A"], terminals=["a", "b", "c"])


def _joint_by_enumeration(g, n):
    """{(root, tokens): probability} over every derivation of n tokens (unnormalised)."""
    def derive(a, w):
        if w == 1:
            for x in range(g.n_terminals):
                if float(g.lexical[a, x]) > 0:
                    yield float(g.lexical[a, x]), (x,)
            return
        for (parent, b, c), p in zip(g.binary.tolist(), g.binary_prob.tolist()):
            if parent == a:
                for k in range(1, w):
                    for pl, xl in derive(b, k):
                        for pr, xr in derive(c, w - k):
                            yield p * pl * pr, xl + xr
    joint = {}
    for a in range(g.n_nonterminals):
        for p, x in derive(a, n):
            joint[(a, x)] = joint.get((a, x), 0.0) + float(g.root[a]) * p
    return joint


def test_class_anchors_equal_enumeration():
    g, n = _ambiguous(), 4
    joint = _joint_by_enumeration(g, n)
    z = sum(joint.values())
    prior = np.zeros(g.n_nonterminals)
    strings = {}
    for (a, x), p in joint.items():
        prior[a] += p / z
        strings[x] = strings.get(x, 0.0) + p
    cases = [((0, 1, 0, 0), 0), ((2, 0, 1, 0), 1), ((0, 0, 0, 0), 1), ((1, 1, 0, 1), 0)]
    tokens = torch.tensor([x for x, _ in cases])
    roots = torch.tensor([a for _, a in cases])
    anchors = class_anchors(g, {n: tokens}, {n: roots}).iloc[0]
    clean = np.array([joint.get((a, x), 0.0) / strings[x] for x, a in cases])
    floor = prior[[a for _, a in cases]]
    assert anchors["clean"] == pytest.approx(clean.mean(), abs=1e-12)
    assert anchors["clean_se"] == pytest.approx(clean.std(ddof=1) / 2, abs=1e-12)
    assert anchors["floor"] == pytest.approx(floor.mean(), abs=1e-12)
    assert anchors["n_sentences"] == 4 and anchors["length"] == n


def test_relative_points_read_the_curve_between_its_ends():
    noise = np.linspace(0.1, 0.9, 9)
    clean, floor = 0.7, 0.3
    q = np.clip(1.5 - 2.5 * noise, 0, 1)  # 1 up to 0.2, 0 from 0.6: 90% at 0.24, 10% at 0.56
    got = relative_points(noise, floor + (clean - floor) * q, np.full(9, 0.01), clean, 0.01,
                          floor)
    assert got["eps_90"] == pytest.approx(0.24, abs=1e-12)
    assert got["eps_10"] == pytest.approx(0.56, abs=1e-12)
    assert got["eps_half"] == pytest.approx(0.4, abs=1e-12)
    assert got["width"] == pytest.approx(0.32, abs=1e-12)
    # the delta method: sigma_q = 0.01 / 0.4 on both bracketing points, each crossing 0.4 (or
    # 0.6) of the way through its bracket, over the slope 2.5 per unit noise; two levels
    one = 0.025 * np.hypot(0.6, 0.4) / 2.5
    assert got["width_err"] == pytest.approx(np.hypot(one, one), rel=1e-9)
    # a curve already at 0.6 of its drop at the first grid point: the exact end q(0) = 1 is used
    early = relative_points([0.3, 0.6], [floor + 0.4 * 0.6, floor], [0.0, 0.0], clean, 0.0, floor)
    assert early["eps_90"] == pytest.approx(0.3 * 0.1 / 0.4, abs=1e-12)
    # and one still at half its drop at the last: the exact end q(1) = 0
    late = relative_points([0.1, 0.8], [clean, floor + 0.2], [0.0, 0.0], clean, 0.0, floor)
    assert late["eps_half"] == pytest.approx(0.8, abs=1e-12)
    assert late["eps_10"] == pytest.approx(0.8 + 0.2 * 0.4 / 0.5, abs=1e-12)
    # clean sentences no better than no sentence: no transition to measure
    flat = relative_points(noise, np.full(9, 0.3), np.full(9, 0.01), 0.31, 0.01, floor)
    assert all(np.isnan(v) for v in flat.values())


def _curve(n, width, process="epsilon", clean=0.9, floor=0.3, se=0.005):
    """A planted class curve of length n: q falls linearly from 1 to 0 over ``width / 0.8``
    around 0.5 (so its 90-10% width is ``width``)."""
    noise = np.round(np.linspace(0.02, 0.98, 49), 6)
    q = np.clip(0.5 - (noise - 0.5) * 0.8 / width, 0, 1)
    return pd.DataFrame({"model": "grammar", "observable": "root", "process": process,
                         "length": n, "noise": noise, "probability": floor + (clean - floor) * q,
                         "probability_se": se})


def _anchors(lengths, clean=0.9, floor=0.3):
    return pd.DataFrame({"length": lengths, "clean": clean, "clean_se": 0.01, "floor": floor,
                         "floor_se": 0.01, "n_sentences": 128})


def test_rows_say_where_the_transition_sharpens():
    random = {"source": "random", "random": {"n_binary": 3, "overlap": 0.2, "law": "uniform",
                                             "zipf_exponent": 1.0}}
    kept = pd.concat([_curve(16, 0.4), _curve(32, 0.28), _curve(64, 0.2),
                      _curve(16, 0.4, "masking"), _curve(32, 0.41, "masking"),
                      _curve(64, 0.39, "masking")])
    rows = phase_rows("g", random, kept, _anchors([16, 32, 64]), n_classes=4)
    assert list(rows.columns) == GRAMMAR_PHASE_COLUMNS
    eps, mask = rows.set_index("process").loc["epsilon"], rows.set_index("process").loc["masking"]
    assert eps["sharp"] and eps["sharpening"] == pytest.approx(np.log2(0.2 / 0.4) / 2, abs=0.02)
    assert not mask["sharp"] and abs(mask["sharpening"]) < 2 * mask["sharpening_err"]
    assert (eps["length_min"], eps["length_max"]) == (16, 64)
    assert eps["width_last"] == pytest.approx(0.2, abs=1e-9)
    assert eps["eps_half"] == pytest.approx(0.5, abs=1e-9)
    assert (eps["kept_clean"], eps["kept_floor"]) == (0.9, 0.3)
    assert eps["overlap"] == 0.2 and eps["law"] == "uniform"
    assert np.isnan(eps["mean_field_half"])  # not an RHM


def test_rows_without_class_information_have_no_width():
    kept = pd.concat([_curve(n, 0.3, clean=0.32, floor=0.3) for n in (16, 32)])
    rows = phase_rows("g", {"source": "file"}, kept, _anchors([16, 32], clean=0.301), 4)
    row = rows.iloc[0]
    assert np.isnan(row["width_last"]) and np.isnan(row["sharpening"]) and not row["sharp"]


def test_rhm_rows_carry_the_mean_field():
    rhm = {"v": 8, "m": 3, "s": 2, "L": 4, "n_classes": None}
    noise = np.array([0.1, 0.5, 0.9])
    exact = theory.class_reconstruction(noise, 8, 3, 2, 4, n_classes=8)
    kept = pd.DataFrame({"model": "grammar", "observable": "root", "process": "epsilon",
                         "length": 16, "noise": noise, "probability": exact,
                         "probability_se": 0.01})
    rows = phase_rows("r", {"source": "rhm", "rhm": rhm}, kept, _anchors([16], 1.0, 1 / 8), 8)
    row = rows.iloc[0]
    assert row["mean_field_gap"] == pytest.approx(0.0, abs=1e-12)
    assert 0 < row["mean_field_half"] < 1 and np.isnan(row["overlap"])
    assert np.isnan(row["sharpening"]) and not row["sharp"]  # one length: nothing to fit


def test_rhm_depths_of_one_model_form_one_family():
    def rhm(L, v=8):
        return {"source": "rhm", "rhm": {"v": v, "m": 3, "s": 2, "L": L, "n_classes": None}}
    sources = {"r4": rhm(4), "g": {"source": "random", "random": {}}, "r5": rhm(5),
               "other": rhm(5, v=16), "r5_again": rhm(5), "r6": rhm(6)}
    assert rhm_families(sources) == [["r4", "r5", "r6"], ["g"], ["other"], ["r5_again"]]


def test_mean_field_sharpening_is_the_fit_of_its_own_widths():
    v, m, s, depths = 8, 3, 2, (4, 5, 6)
    widths = []
    for L in depths:  # the 90% and 10% points of the normalised mean-field curve, by bisection
        def q(e):
            return (theory.class_reconstruction(e, v, m, s, L, n_classes=v) - 1 / v) / (1 - 1 / v)
        hi, lo = (optimize.brentq(lambda e: q(e) - level, 1e-9, 1 - 1e-9) for level in (0.9, 0.1))
        widths.append(lo - hi)
    slope = stats.linregress(np.log2([s**L for L in depths]), np.log2(widths)).slope
    got = mean_field_sharpening({"v": v, "m": m, "s": s}, depths, v)
    assert got == pytest.approx(slope, abs=2e-3)  # linear interpolation on a 4001-point grid
    assert got < 0  # the RHM's transition sharpens with depth
    assert np.isnan(mean_field_sharpening({"v": v, "m": m, "s": s}, [5], v))
