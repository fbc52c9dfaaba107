"""hierphase.stages.rhm, in process: sharding of the noise grid and pooling of rule draws. The RHM
workflow end to end: tests/test_workflow_rhm.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import RHM_KEPT_COLUMNS

from hierphase import rhm
from hierphase.stages import rhm as stage
from hierphase.stats import wilson_interval


def test_a_noise_value_gets_the_same_rows_in_any_shard():
    rules = rhm.sample_rules(8, 3, 2, 3, seed=1)
    trees = rhm.sample_trees(rules, 48, seed=2)
    kwargs = dict(seed=7, batch_size=20, experiment="x")
    one = stage.sweep_shard(rules, trees, "masking", [0.25, 0.5], **kwargs)
    other = stage.sweep_shard(rules, trees, "masking", [0.5, 0.75], **kwargs)
    pd.testing.assert_frame_equal(one[one["noise"] == 0.5].reset_index(drop=True),
                                  other[other["noise"] == 0.5].reset_index(drop=True))
    merged = stage.aggregate_kept([other, one])
    assert len(merged) == 3 * 4 and merged["noise"].is_monotonic_increasing
    assert list(merged.columns) == RHM_KEPT_COLUMNS


def test_pooling_rule_draws_weights_by_n_and_recomputes_the_interval():
    base = {"experiment": "x", "model": "bp", "process": "epsilon", "L": 2, "level": 0,
            "noise": 0.5, "t": np.nan, "t_over_T": np.nan, "ci_low": 0.0, "ci_high": 1.0}
    df = pd.DataFrame([{**base, "rule_seed": 0, "kept_marginal": 0.6, "kept_sampled": 0.5, "n": 100},
                       {**base, "rule_seed": 1, "kept_marginal": 0.9, "kept_sampled": 0.8, "n": 300},
                       {**base, "rule_seed": 0, "level": 1, "kept_marginal": 0.7,
                        "kept_sampled": 0.6037, "n": 100}])
    pooled = stage.pool_rule_seeds(df)
    assert (pooled["ci_low"] <= pooled["kept_sampled"]).all()
    assert (pooled["kept_sampled"] <= pooled["ci_high"]).all()
    row = pooled.iloc[0]
    assert row["n"] == 400 and row["n_rule_draws"] == 2
    assert row["kept_marginal"] == pytest.approx(0.825)
    assert row["kept_sampled"] == pytest.approx(0.725)
    low, high = wilson_interval(290, 400)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
