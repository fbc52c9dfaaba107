"""Per-level observables of forward-backward experiments and the tidy "kept" table.

For a datum ``x0`` with latent tree ``trees`` and a forward-backward sample with tree ``samples``:
(i) the posterior marginal at the true latent, whose mean over data is the probability that a
sample keeps that latent; (ii) whether the sample's latent equals the original one. Their means
must agree within sampling error.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .checks import check_int, check_int_array, check_real, check_seed, check_unit
from .stats import wilson_interval
from .tables import KEPT_COLUMNS

__all__ = ["true_latent_probability", "kept_indicators", "kept_fraction", "kept_table",
           "KEPT_COLUMNS"]


def _check_levels(a: Sequence, b: Sequence, what: str, names=("samples", "trees")) -> None:
    """Same number of levels, and per level the same batch size (and the same number of nodes
    where both are given per node); ``names``: the arguments ``a`` and ``b``."""
    for name, levels in zip(names, (a, b)):
        if not isinstance(levels, (list, tuple)) or not levels or \
                not all(isinstance(x, torch.Tensor) for x in levels):
            raise TypeError(f"{what}: {name} must be a non-empty list of tensors, one per level")
    if len(a) != len(b):
        raise ValueError(f"{what}: {names[0]} and {names[1]} must have as many levels, got "
                         f"{len(a)} and {len(b)}")
    for level, (x, y) in enumerate(zip(a, b)):
        dims = min(2, x.dim(), y.dim())
        if tuple(x.shape[:dims]) != tuple(y.shape[:dims]):
            raise ValueError(f"{what}: level {level} has (batch, nodes) {tuple(x.shape[:2])} and "
                             f"{tuple(y.shape[:2])}; both must describe the same data")


def true_latent_probability(marginals: Sequence[torch.Tensor],
                            trees: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Per level, the posterior probability of the true latent: (n, s**l) tensors."""
    _check_levels(marginals, trees, "true_latent_probability", ("marginals", "trees"))
    out = []
    for level, (mg, tr) in enumerate(zip(marginals, trees)):
        tr = check_int_array(tr, f"trees[{level}]")
        if not torch.as_tensor(mg).is_floating_point():
            raise TypeError(f"marginals[{level}] must be a float tensor, got {mg.dtype}")
        if tr.numel() and (tr.min() < 0 or tr.max() >= mg.shape[-1]):
            raise ValueError(f"trees[{level}] has values outside [0, {mg.shape[-1]}) (the "
                             f"symbols of marginals[{level}])")
        out.append(torch.gather(mg, -1, tr.unsqueeze(-1)).squeeze(-1))
    return out


def kept_indicators(samples: Sequence[torch.Tensor],
                    trees: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Per level, BoolTensor (n, s**l): the sample's latent equals the original one."""
    _check_levels(samples, trees, "kept_indicators")
    return [check_int_array(sa, f"samples[{level}]") == check_int_array(tr, f"trees[{level}]")
            for level, (sa, tr) in enumerate(zip(samples, trees))]


def kept_fraction(samples: Sequence[torch.Tensor],
                  trees: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Per level, float64 (n,): the fraction of a datum's level-l latents that the sample keeps
    (level 0: 1.0 if the class is kept, else 0.0)."""
    return [k.to(torch.float64).mean(dim=1) for k in kept_indicators(samples, trees)]


def _per_datum(x) -> np.ndarray:
    x = torch.as_tensor(x).to(torch.float64)
    return (x.mean(dim=1) if x.dim() == 2 else x).numpy()


def kept_table(true_prob: Sequence[torch.Tensor] | None, kept: Sequence[torch.Tensor], *,
               experiment: str, process: str, L: int, rule_seed: int, noise: float,
               t: int | None = None, t_over_T: float | None = None, model: str = "bp",
               **extra) -> pd.DataFrame:
    """Tidy rows, one per level, with the columns of :data:`KEPT_COLUMNS` (+ ``extra`` columns).

    ``true_prob``: per level (n, s**l) posterior probabilities of the true latent (from
    :func:`true_latent_probability`), or None when the model has no marginals (NaN column).
    ``kept``: per level, indicators (n, s**l) or per-datum fractions (n,) (:func:`kept_fraction`).
    ``kept_marginal``/``kept_sampled`` average over data and nodes. The Wilson 95% interval treats
    each datum as one trial with ``k = n * kept_sampled`` (nodes of one datum are correlated, and
    per-datum fractions vary no more than a Bernoulli variable, so this interval is conservative);
    ``n`` is the number of data.
    """
    for name, value in (("experiment", experiment), ("process", process), ("model", model)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {value!r}")
    L, rule_seed = check_int(L, "L", 1), check_seed(rule_seed, "rule_seed")
    noise = check_real(noise, "noise")
    t = None if t is None else check_int(t, "t", 0)
    t_over_T = None if t_over_T is None else check_unit(t_over_T, "t_over_T")
    if not isinstance(kept, (list, tuple)) or not kept:
        raise TypeError(f"kept_table: kept must be a non-empty list of tensors, one per level")
    if true_prob is not None:
        _check_levels(true_prob, kept, "kept_table", ("true_prob", "kept"))
    rows = []
    for level, kept_l in enumerate(kept):
        frac = _per_datum(kept_l)
        n = int(frac.shape[0])
        sampled = float(frac.mean()) if n else math.nan
        marginal = float(_per_datum(true_prob[level]).mean()) if (true_prob is not None and n) \
            else math.nan
        low, high = wilson_interval(sampled * n, n)
        rows.append({
            "experiment": experiment, "model": model, "process": process, "L": int(L),
            "rule_seed": int(rule_seed), "level": level, "noise": float(noise),
            "t": math.nan if t is None else int(t),
            "t_over_T": math.nan if t_over_T is None else float(t_over_T),
            "kept_marginal": marginal, "kept_sampled": sampled,
            "ci_low": float(low), "ci_high": float(high), "n": n, **extra,
        })
    df = pd.DataFrame(rows, columns=KEPT_COLUMNS + [k for k in extra if k not in KEPT_COLUMNS])
    df["t"] = df["t"].astype("float64")
    return df
