"""hierphase.depth: the geometric sum against a brute-force chi, and the depth recovered from
mean-field tables whose number of levels the estimator never reads."""

import numpy as np
import pandas as pd
import pytest

from hierphase import correlations, depth, theory


@pytest.mark.parametrize("s,a", [(2, 0.9), (3, 1.2), (2, 1.0)])
def test_geometric_depth_inverts_the_pair_sum_of_a_geometric_c(s, a):
    L = 9
    k = np.arange(L + 1)
    C = np.where(k == 0, 1.0, 0.4 * s ** (-a * (k - 1)))
    bins = correlations.tree_bins(s, L)
    chi = float(correlations.susceptibility(C * bins.n_pairs))  # brute force over the bins
    assert depth.geometric_depth(chi, 0.4, s * s**-a, s) == pytest.approx(L, abs=1e-9)
    assert np.isnan(depth.geometric_depth(0.5, 0.4, 0.9, s))


def _mean_field_tables(L, seed):
    corr, chi = theory.mean_field_correlation_tables([0.70, 0.72, 0.7312, 0.74, 0.76], 32, 8, 2, L)
    keys = dict(family="rhm", experiment="main", model="bp", process="epsilon", L=L,
                rule_seed=seed, t_over_T=np.nan)
    return (corr.assign(**keys), chi.assign(**keys, class_kept=0.5))


def test_depth_features_ignore_the_levels_beyond_k_fit_and_calibration_recovers_l():
    tables = [_mean_field_tables(L, L) for L in range(4, 12)]
    cor = pd.concat([t[0] for t in tables], ignore_index=True)
    sus = pd.concat([t[1] for t in tables], ignore_index=True)
    feats = depth.depth_features(cor, sus, k_fit=3)
    assert list(feats.columns) == depth.FEATURE_COLUMNS and len(feats) == 8
    truncated = depth.depth_features(cor[cor["distance"] <= 3], sus, k_fit=3)
    pd.testing.assert_frame_equal(feats, truncated)
    assert (feats["s"] == 2).all()
    # L_geometric grows with L but falls short of it (the levels under the root decay faster)
    assert np.all(np.diff(feats["L_geometric"]) > 0)
    cal = depth.calibrate_depth(feats[feats["L"] % 2 == 0], "L_geometric")
    est = depth.estimate_depth(feats[feats["L"] % 2 == 1], cal)
    assert est["exact"].all() and cal.residual_sd < 0.3
    lin = depth.calibrate_depth(feats, "chi_max")
    assert lin.beta > 0
    with pytest.raises(ValueError, match="two depths"):
        depth.calibrate_depth(feats[feats["L"] == 5])
    with pytest.raises(ValueError, match="feature"):
        depth.calibrate_depth(feats, "nope")


def test_held_out_estimates_score_only_the_rhms_left_out_of_the_calibration():
    """Mean field's tables at L = 4..11, two 'draws' each: calibrated on L = 4, 7, 11 of draw 0,
    every other table is held out; the score counts them (and those at never-calibrated depths)
    against an independent count from the estimates."""
    tables = [_mean_field_tables(L, seed) for L in range(4, 12) for seed in (0, 1)]
    cor = pd.concat([t[0] for t in tables], ignore_index=True)
    sus = pd.concat([t[1] for t in tables], ignore_index=True)
    feats = depth.depth_features(cor, sus, k_fit=3)
    est, summary = depth.held_out_estimates(feats, [4, 7, 11], [0], feature="L_geometric",
                                            experiment="mf")
    assert list(summary.columns) == depth.CALIBRATION_COLUMNS and len(summary) == 1
    row = summary.iloc[0]
    roles = est.set_index(["L", "rule_seed"])["role"]
    assert sorted(k for k, r in roles.items() if r == "calibration") == [(4, 0), (7, 0), (11, 0)]
    held = est[est["role"] == "held_out"]
    assert row["n_held_out"] == len(held) == 13 and row["n_calibration"] == 3
    assert row["n_exact"] == int((held["L_hat"] == held["L"]).sum())
    new = held[~held["L"].isin([4, 7, 11])]
    assert row["held_out_depths_exact"] == f"{int(new['exact'].sum())}/{len(new)}" == "10/10"
    assert row["max_abs_error"] == pytest.approx((held["L_estimate"] - held["L"]).abs().max())
    # the calibration is the line through the calibration RHMs only
    cal = depth.calibrate_depth(feats[feats["rule_seed"].eq(0) & feats["L"].isin([4, 7, 11])],
                                "L_geometric")
    assert (row["alpha"], row["beta"]) == pytest.approx((cal.alpha, cal.beta))
    with pytest.raises(ValueError, match="none is left"):
        depth.held_out_estimates(feats, range(4, 12), [0, 1])
