"""hierphase.learned.curves: snapshot steps, sample complexity per level, a perfect generaliser's
memorisation."""

import math

import numpy as np
import pandas as pd
import pytest

from hierphase.learned import curves
from hierphase.learned.evaluate import VALIDITY_COLUMNS


def test_snapshot_steps_are_log_spaced_distinct_and_end_at_the_final_model():
    steps = curves.snapshot_steps(4000, 6, 50)
    assert len(steps) == 6 and steps[0] == 50 and steps[-1] == 4000
    ratios = np.diff(np.log(steps))
    assert np.allclose(ratios, ratios.mean(), atol=0.01)  # geometric, up to rounding
    assert curves.snapshot_steps(30, 3, 10) == [10, 17, 30]
    assert curves.snapshot_steps(5, 10, 1) == [1, 2, 3, 4, 5]  # short range: fewer, distinct
    assert curves.snapshot_steps(30, 3, 50) == [30]  # first above steps: the final model only
    assert curves.snapshot_steps(100, 1, 10) == [100]
    assert curves.snapshot_steps(100, 0, 10) == []
    with pytest.raises(ValueError, match="snapshots need"):
        curves.snapshot_steps(100, 3, 0)


def _validity(values: dict) -> pd.DataFrame:
    """Validity rows (novel samples) of models at P = 128 .. 4096, ``values[level]`` per P."""
    rows = []
    Ps = [128, 256, 512, 1024, 2048, 4096]
    for level, vals in values.items():
        for P, val in zip(Ps, vals):
            for samples, shift in (("novel", 0.0), ("all", 0.5)):
                rows.append({"experiment": "x", "process": "masking", "model": f"m{P}", "P": P,
                             "seed": 0, "samples": samples, "level": level,
                             "tuples_valid": min(1.0, val + shift), "tuples_valid_ci_low": 0.0,
                             "tuples_valid_ci_high": 1.0, "n_tuples": 100, "valid_up_to": val,
                             "valid_up_to_ci_low": 0.0, "valid_up_to_ci_high": 1.0, "n_samples": 10})
    return pd.DataFrame(rows, columns=VALIDITY_COLUMNS)


def test_sample_complexity_interpolates_the_first_crossing_in_log_P():
    validity = _validity({
        0: [0.1, 0.2, 0.3, 0.4, 0.6, 0.95],   # 0.5 crossed between 1024 and 2048, at the middle
        1: [0.2, 0.6, 0.4, 0.7, 0.92, 0.99],  # first crossing counts (256), not the later one
        2: [0.7, 0.9, 0.95, 0.97, 0.99, 1.0],  # above 0.5 already at the smallest P
        3: [0.1, 0.1, 0.1, 0.1, 0.2, 0.3],    # never reaches 0.5
    })
    table = curves.sample_complexity(validity, [0.5, 0.9])
    assert list(table.columns) == curves.SAMPLE_COMPLEXITY_COLUMNS
    at = table.set_index(["level", "threshold"])
    assert at.loc[(0, 0.5), "P_star"] == pytest.approx(math.sqrt(1024 * 2048))
    assert (at.loc[(0, 0.5), "P_low"], at.loc[(0, 0.5), "P_high"]) == (1024, 2048)
    assert at.loc[(1, 0.5), "P_star"] == pytest.approx(128 * 2 ** 0.75)  # 0.2 -> 0.6 at 0.5
    assert at.loc[(1, 0.9), "P_high"] == 2048
    assert math.isnan(at.loc[(2, 0.5), "P_star"]) and at.loc[(2, 0.5), "P_high"] == 128
    assert at.loc[(2, 0.5), "P_low"] == 0
    assert math.isnan(at.loc[(3, 0.5), "P_star"]) and math.isinf(at.loc[(3, 0.5), "P_high"])
    assert at.loc[(3, 0.5), "P_low"] == 4096
    # the "all" rows (shifted up by copies) give other answers: novel is the default
    assert not curves.sample_complexity(validity, [0.5], samples="all").equals(
        curves.sample_complexity(validity, [0.5]))


def test_sample_complexity_skips_models_with_too_few_novel_samples():
    validity = _validity({0: [0.95, 0.2, 0.3, 0.4, 0.6, 0.95]})
    few = validity["P"] == 128  # a model that copies its training data: 3 novel samples
    validity.loc[few, "n_samples"] = 3
    at = lambda t: t.set_index(["level", "threshold"]).loc[(0, 0.5)]  # noqa: E731
    # counted, its 3 samples make level 0 "learned" at the smallest P already
    assert at(curves.sample_complexity(validity, [0.5]))["P_high"] == 128
    # skipped, the crossing is the one the well-sampled models show, between 1024 and 2048
    kept = at(curves.sample_complexity(validity, [0.5], min_samples=10))
    assert (kept["P_low"], kept["P_high"]) == (1024, 2048)
    assert kept["P_star"] == pytest.approx(math.sqrt(1024 * 2048))
    with pytest.raises(ValueError, match="min_samples"):
        curves.sample_complexity(validity, [0.5], min_samples=0)


def test_perfect_generaliser_memorisation_is_the_expected_distinct_fraction():
    assert curves.perfect_generaliser_memorized(2, [0, 1, 2]).tolist() == pytest.approx([0, 0.5, 0.75])
    # Monte Carlo: distinct training data / n, over draws of P = 300 of n = 500
    rng = np.random.default_rng(0)
    draws = [len(np.unique(rng.integers(0, 500, 300))) / 500 for _ in range(2000)]
    assert curves.perfect_generaliser_memorized(500, 300) == pytest.approx(np.mean(draws), abs=2e-3)
