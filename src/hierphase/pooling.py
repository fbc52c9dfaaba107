"""Tables pooled across jobs: the rule draws of a kept table, the class curves of exact BP drawn
from it, correlation tables gathered from their shards. Science-side helpers that the workflow's
glue (:mod:`hierphase.stages`), the analyses and the figures share."""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from hierphase.stats import wilson_interval

__all__ = ["pool_rule_seeds", "class_curves", "aggregate_correlations"]

_CORR_ORDER = ["family", "experiment", "model", "process", "L", "rule_seed", "noise", "level"]


def pool_rule_seeds(kept: pd.DataFrame) -> pd.DataFrame:
    """Pool the rows of several rule draws (same experiment, process, L, level, noise): means
    weighted by ``n``, ``n`` summed, Wilson interval recomputed on the pooled counts."""
    keys = ["experiment", "model", "process", "L", "level", "noise"]
    df = kept.assign(_k=kept["kept_sampled"] * kept["n"], _p=kept["kept_marginal"] * kept["n"])
    pooled = df.groupby(keys, sort=True, dropna=False).agg(
        t=("t", "first"), t_over_T=("t_over_T", "first"), _k=("_k", "sum"), _p=("_p", "sum"),
        n=("n", "sum"), n_rule_draws=("rule_seed", "nunique")).reset_index()
    pooled["kept_marginal"] = pooled["_p"] / pooled["n"]
    pooled["kept_sampled"] = pooled["_k"] / pooled["n"]
    # k = n * kept_sampled is fractional for levels > 0 (per-datum fractions), as in kept_table
    pooled["ci_low"], pooled["ci_high"] = wilson_interval(pooled["_k"], pooled["n"])
    return pooled.drop(columns=["_k", "_p"])


def class_curves(kept: pd.DataFrame, process: str, *, z: float = 1.959963984540054) -> dict:
    """``{L: Curve}`` of the class (level 0) of one process of a kept table, exact BP, rule draws
    pooled (:func:`pool_rule_seeds`): ``kept_marginal`` against the noise (eps, or the realised
    t/T), standard errors from the pooled 95% Wilson interval (half-width over ``z``)."""
    from hierphase.finite_size import Curve

    rows = kept[(kept["process"] == process) & (kept["level"] == 0) & (kept["model"] == "bp")]
    if rows.empty:
        raise ValueError(f"the kept table has no class rows of exact BP for process {process!r}")
    rows = pool_rule_seeds(rows).sort_values(["L", "noise"])
    return {int(L): Curve(g["noise"].to_numpy(dtype=float), g["kept_marginal"].to_numpy(dtype=float),
                          ((g["ci_high"] - g["ci_low"]) / (2 * z)).to_numpy(dtype=float))
            for L, g in rows.groupby("L", sort=True)}


def aggregate_correlations(frames: Iterable[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Concatenate correlation or susceptibility tables (shards, theory, controls) into one,
    sorted; a row measured in two shards (identical numbers, same seeds) appears once."""
    df = pd.concat(list(frames), ignore_index=True)[columns]
    keys = _CORR_ORDER + (["distance"] if "distance" in columns else [])
    df = df.drop_duplicates(subset=keys, keep="first")
    return df.sort_values(keys, kind="mergesort", na_position="first").reset_index(drop=True)
