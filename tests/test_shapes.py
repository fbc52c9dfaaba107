"""hierphase.shapes.AxisSize: sizes read off a model object's arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from hierphase.controls import FlatMixture, RandomCode
from hierphase.grammar.hmm import make_hmm
from hierphase.shapes import AxisSize


@dataclass(frozen=True)
class _Table:
    values: object
    rows = AxisSize("values", 0)
    cols = AxisSize("values", -1)


@pytest.mark.parametrize("values", [np.zeros((3, 5)), torch.zeros(3, 5)], ids=["numpy", "torch"])
def test_axis_size_reads_the_array_s_shape_and_cannot_be_set(values):
    table = _Table(values)
    assert (table.rows, table.cols) == (3, 5) and type(table.rows) is int
    with pytest.raises(AttributeError, match="cols"):
        table.cols = 4

    class Plain:  # not a frozen dataclass: the descriptor itself refuses
        size = AxisSize("values", 0)

    plain = Plain()
    plain.values = values
    with pytest.raises(AttributeError, match="size is read off values's shape and cannot be set"):
        plain.size = 4
    assert plain.size == 3
    assert "rows" not in {f for f in _Table.__dataclass_fields__}  # not a field of the dataclass
    assert _Table.rows.__doc__ == "Length of axis 0 of ``values``."


def test_model_sizes_are_their_arrays_axes():
    mixture = FlatMixture.from_seed(v=4, n_classes=3, scale=1.0, seed=0)
    assert (mixture.n_classes, mixture.v) == tuple(mixture.log_probs.shape) == (3, 4)
    code = RandomCode.from_seed(v=3, n_codes=4, d=5, seed=0)
    assert (code.n_codes, code.d) == tuple(code.codewords.shape) == (4, 5)
    hmm = make_hmm(torch.full((2,), 0.5, dtype=torch.float64), torch.full((2, 2), 0.5, dtype=torch.float64),
                   torch.full((2, 3), 1 / 3, dtype=torch.float64))
    assert (hmm.n_states, hmm.n_terminals) == (2, 3)
