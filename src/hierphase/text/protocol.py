"""The follow-up study's text protocol: change correlations of forward-backward on passages.

For each masking level ``t`` of a grid (the fraction t/T of the forward process), every passage
(``n_passages`` x ``length`` tokens) is masked ``n_maskings`` times (each token on its own with
probability ``t``) and denoised by a *denoiser* (a trained network, the n-gram control's exact
posterior sampler, a grammar's exact posterior sampler: any callable of the signature in
:mod:`hierphase.mdlm.diffusion`). A token *changed* when the output differs from the passage.
The change spins go to the package's estimator (:mod:`hierphase.correlations`, tokens on an open
chain): ``C(r)`` in token distance, the susceptibility ``chi = sum_ij C_ij / sum_i C_ii`` and the
second-moment correlation length ``xi``, with bootstrap intervals over passages. The
sensitivity to the distance cutoff is measured by summing only the pairs at ``|i - j| <= R``
(``R`` in ``cutoffs``; ``None``: every pair): the same per-passage pair sums, fewer bins.

Tables (tidy; the caller adds identifying columns such as the denoiser's name):

* :data:`CURVE_COLUMNS`: ``t``, ``distance`` (= ``r``), ``C`` with its interval, per level;
* :data:`CHI_COLUMNS`: ``t``, ``cutoff`` (``"r<=R"`` or ``"all"``), ``R`` (inf for all), chi and
  xi with intervals, and the mean fraction of tokens changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from hierphase.correlations import Bins, change_spins, lattice_bins, lattice_pair_sums, summarise
from hierphase.mdlm.diffusion import Denoiser, forward_backward
from hierphase.seeding import derive_seed

__all__ = ["CURVE_COLUMNS", "CHI_COLUMNS", "DEFAULT_CUTOFFS", "ChangeCorrelations", "change_correlations",
           "cutoff_bins"]

CURVE_COLUMNS = ["t", "distance", "r", "C", "C_lo", "C_hi", "n_x0", "n_traj"]
CHI_COLUMNS = ["t", "cutoff", "R", "chi", "chi_lo", "chi_hi", "xi", "xi_lo", "xi_hi", "changed",
               "n_x0", "n_traj"]
#: The cutoffs of the follow-up's sensitivity check (None: all pairs).
DEFAULT_CUTOFFS = (5, 10, 20, None)


@dataclass(frozen=True)
class ChangeCorrelations:
    curves: pd.DataFrame
    chi: pd.DataFrame


def cutoff_bins(bins: Bins, R: int | None) -> np.ndarray:
    """Boolean selection of the bins at distance ``r <= R`` (all when ``R`` is None)."""
    if R is None:
        return np.ones(len(bins.r), dtype=bool)
    if isinstance(R, bool) or not isinstance(R, (int, np.integer)) or R < 0:
        raise ValueError(f"cutoffs must hold ints >= 0 or None, got {R!r}")
    return bins.r <= R


def _levels(levels) -> list[float]:
    out = []
    for t in levels:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) or not 0 < float(t) <= 1:
            raise ValueError(f"levels must be numbers in (0, 1], got {t!r}")
        out.append(float(t))
    if not out:
        raise ValueError("levels must hold at least one level")
    return out


def change_correlations(denoiser: Denoiser, passages, levels: Sequence[float], n_maskings: int, seed: int,
                        cutoffs: Sequence[int | None] = DEFAULT_CUTOFFS, n_boot: int = 1000,
                        confidence: float = 0.95) -> ChangeCorrelations:
    """Run the protocol (module docstring) for ``denoiser`` on ``passages`` (int ``(n_passages,
    length)``) at each level; ``n_maskings`` >= 2 maskings per passage and level. Deterministic in
    ``seed`` (each level derives its own); the bootstrap resamples the same passages at every
    level and cutoff."""
    x0 = torch.as_tensor(np.asarray(passages), dtype=torch.long)
    if x0.ndim != 2 or x0.shape[0] < 1 or x0.shape[1] < 2:
        raise ValueError(f"passages must be (n_passages >= 1, length >= 2), got {tuple(x0.shape)}")
    if isinstance(n_maskings, bool) or not isinstance(n_maskings, int) or n_maskings < 2:
        raise ValueError(f"n_maskings must be an int >= 2, got {n_maskings!r}")
    levels = _levels(levels)
    cutoffs = list(cutoffs)
    if not cutoffs:
        raise ValueError("cutoffs must hold at least one cutoff (None: all pairs)")
    length = int(x0.shape[1])
    bins = lattice_bins(length, periodic=False)
    selections = [(R, cutoff_bins(bins, R)) for R in cutoffs]
    boot_seed = derive_seed(int(seed), "text.protocol.bootstrap")
    curves, chis = [], []
    for t in levels:
        x_hat = forward_backward(denoiser, x0, t, n_maskings, derive_seed(int(seed), "text.protocol", t))
        spins = change_spins(x0.numpy(), x_hat.numpy())
        pairs = np.stack([lattice_pair_sums(s, periodic=False) for s in spins])
        changed = float((spins > 0).mean())
        full = summarise(pairs, bins, n_maskings, n_boot=n_boot, seed=boot_seed, confidence=confidence)
        curves.append(full.correlations.drop(columns="level").assign(t=t))
        for R, keep in selections:
            sub = Bins(distance=bins.distance[keep], r=bins.r[keep], n_pairs=bins.n_pairs[keep])
            out = full if R is None else summarise(pairs[:, keep], sub, n_maskings, n_boot=n_boot,
                                                   seed=boot_seed, confidence=confidence)
            chis.append(out.susceptibility.drop(columns="level").assign(
                t=t, cutoff="all" if R is None else f"r<={R}", R=math.inf if R is None else float(R),
                changed=changed))
    return ChangeCorrelations(pd.concat(curves, ignore_index=True)[CURVE_COLUMNS],
                              pd.concat(chis, ignore_index=True)[CHI_COLUMNS])
