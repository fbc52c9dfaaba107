"""Hostile calls of the public Python API (rhm, noise, bp, theory, observables, correlations,
seeding): every call with one argument replaced by a hostile value either returns or raises
ValueError/TypeError naming that argument; never a silent truncation, a NaN passed on, an
IndexError/KeyError/RuntimeError from deep inside, or a hang.

Three tiers: a deterministic sweep of every (function, argument, value of ``HOSTILE``); a
property-based tier (hypothesis) of generated values, fast by default; and its deep tier behind
the ``fuzz`` marker (``pytest -m fuzz``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from hostile_api import CASES, HOSTILE, LEAVES, RULES, judge
from hierphase import correlations, noise, rhm, theory

torch.set_num_threads(1)


def test_every_valid_call_succeeds():
    """The cases are valid calls: what a hostile value is judged against."""
    for case in CASES:
        case.call(**case.kwargs())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_argument_against_every_hostile_value(case):
    findings = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in case.kwargs():
            for value in HOSTILE:
                finding = judge(case, name, value)
                if finding:
                    findings.append(finding)
    assert not findings, "\n".join(findings)


# ------------------------------------------------------------------ the examples of issue 23
def test_float_leaves_are_refused_not_truncated():
    with pytest.raises(TypeError, match="leaves"):
        noise.epsilon_evidence(LEAVES.double() + 0.7, 0.2, RULES.v)
    with pytest.raises(TypeError, match="leaves"):
        rhm.parse(RULES, LEAVES.double())


def test_integer_dtype_evidence_is_refused():
    with pytest.raises(TypeError, match="dtype"):
        noise.epsilon_evidence(LEAVES, 0.2, RULES.v, dtype=torch.int64)


def test_nan_is_refused_by_theory_and_summaries():
    with pytest.raises(ValueError, match="eps"):
        theory.level_reconstruction(math.nan, 8, 3, 2, 3)
    with pytest.raises(ValueError, match="eps"):
        theory.level_reconstruction([0.1, math.nan], 8, 3, 2, 3)
    pairs = np.array([[4.0, np.nan, 0.5], [3.0, 0.5, 0.2]])
    with pytest.raises(ValueError, match="pair_sums"):
        correlations.summarise(pairs, correlations.tree_bins(2, 2), 4, seed=0, n_boot=10)


@pytest.mark.parametrize("seed", [0.0, 3.0, 2.5, True, -1, 2**63])
def test_seeds_must_be_ints(seed):
    with pytest.raises((TypeError, ValueError), match="seed"):
        rhm.sample_trees(RULES, 3, seed)
    with pytest.raises((TypeError, ValueError), match="seed"):
        noise.masking_forward(LEAVES, 0.5, seed)


def test_malformed_rules_dicts_name_the_key():
    data = rhm.rules_to_dict(RULES)
    with pytest.raises(ValueError, match="tables"):
        rhm.rules_from_dict({k: v for k, v in data.items() if k != "tables"})
    with pytest.raises(TypeError, match=r"data\['v'\]"):
        rhm.rules_from_dict({**data, "v": 4.0})
    with pytest.raises(TypeError, match=r"data\['tables'\]\[0\]"):
        rhm.rules_from_dict({**data, "tables": [t.double() for t in data["tables"]]})


def test_huge_sizes_are_refused_at_once():
    """Sizes whose work or memory could not be done: refused before any (they hung or
    overflowed)."""
    with pytest.raises(ValueError, match="L"):
        theory.class_reconstruction(0.1, 8, 3, 2, 2**70)
    with pytest.raises(ValueError, match="v"):
        noise.epsilon_evidence(LEAVES, 0.1, 2**60)


# ------------------------------------------------------------------ property-based tiers
try:
    import hypothesis
    from hypothesis import strategies as st
except ImportError:  # the deterministic sweep above still runs
    hypothesis = None

needs_hypothesis = pytest.mark.skipif(hypothesis is None, reason="hypothesis is not installed")


def _property(max_examples: int):
    """``max_examples`` generated hostile calls: a case, one of its arguments, a value drawn from
    the listed hostile values, any float, any integer up to 2**80, bools, short text, lists of
    floats, arrays and tensors of any of five dtypes and up to three axes (empty ones too)."""
    from hypothesis.extra import numpy as hnp

    @st.composite
    def arrays(draw):
        dtype = draw(st.sampled_from([np.int64, np.float64, np.float32, np.bool_, np.int8]))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
        arr = draw(hnp.arrays(dtype, shape))
        return torch.from_numpy(np.ascontiguousarray(arr)) if draw(st.booleans()) else arr

    values = st.one_of(st.sampled_from(HOSTILE), st.floats(), st.booleans(),
                       st.integers(min_value=-(2**80), max_value=2**80), st.text(max_size=4),
                       st.lists(st.floats(), max_size=4), arrays())

    @hypothesis.settings(max_examples=max_examples, deadline=None, derandomize=True,
                         database=None, suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=st.sampled_from(CASES), data=st.data())
    def check(case, data):
        name = data.draw(st.sampled_from(sorted(case.kwargs())), label="argument")
        value = data.draw(values, label="value")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            finding = judge(case, name, value)
        assert finding is None, finding
    return check


@needs_hypothesis
def test_generated_hostile_calls_fast_tier():
    _property(max_examples=150)()


@needs_hypothesis
@pytest.mark.fuzz
def test_generated_hostile_calls_deep_tier():
    _property(max_examples=5000)()
