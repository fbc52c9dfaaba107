"""Figure glue of the grammar branch: one function per figure rule of ``hierphase.plan.grammar``,
named after it, from the rule's inputs (the experiment's pooled tables) and wildcards to a figure.
Where a figure shows one length, it is the largest length at which the HMM control was swept (the
largest length when there is no control); the chi peak is that of each (model, process) there."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from hierphase import io
from hierphase.plots import grammar as plots

__all__ = ["grammar_fig_class_kept", "grammar_fig_chi", "grammar_fig_c_of_r",
           "grammar_fig_cochange", "figure_length", "chi_peaks"]


def _experiment(table: pd.DataFrame, experiment: str, what: str) -> pd.DataFrame:
    out = table[table["experiment"] == experiment]
    if out.empty:
        raise ValueError(f"the {what} table has no rows of experiment {experiment!r}")
    return out


def figure_length(susceptibility: pd.DataFrame) -> int:
    """The length the single-length figures show: the largest the HMM was swept at, else the
    largest length."""
    hmm = susceptibility[susceptibility["model"] == "hmm"]
    return int((hmm if len(hmm) else susceptibility)["length"].max())


def chi_peaks(susceptibility: pd.DataFrame, length: int) -> pd.DataFrame:
    """Per (model, process) at ``length``: the noise value where chi is largest (the first such
    value on ties), with its chi."""
    at = susceptibility[(susceptibility["length"] == length) & susceptibility["chi"].notna()]
    at = at.sort_values(["model", "process", "noise"], kind="mergesort")
    idx = at.groupby(["model", "process"], sort=True)["chi"].idxmax()
    return at.loc[idx, ["model", "process", "noise", "chi"]].reset_index(drop=True)


def grammar_fig_class_kept(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Class (root symbol) kept by the grammar's exact posterior against the noise, one curve per
    length, one panel per process."""
    kept = _experiment(io.read_table(inputs["kept"], "grammar_kept"), wildcards["experiment"],
                       "kept")
    rows = kept[(kept["model"] == "grammar") & (kept["observable"] == "root")]
    return plots.class_kept_vs_noise(rows, wildcards["experiment"])


def grammar_fig_chi(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """chi against the noise for the grammar and, beside it, the HMM control, at one length."""
    chi = _experiment(io.read_table(inputs["susceptibility"], "grammar_susceptibility"),
                      wildcards["experiment"], "susceptibility")
    n = figure_length(chi)
    return plots.chi_beside_control(chi[chi["length"] == n], wildcards["experiment"], n)


def grammar_fig_c_of_r(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """C(r) at each model's chi peak, one panel per process, at one length."""
    exp = wildcards["experiment"]
    chi = _experiment(io.read_table(inputs["susceptibility"], "grammar_susceptibility"), exp,
                      "susceptibility")
    corr = _experiment(io.read_table(inputs["correlations"], "grammar_correlations"), exp,
                       "correlations")
    n = figure_length(chi)
    peaks = chi_peaks(chi, n)
    at = corr[corr["length"] == n].merge(peaks[["model", "process", "noise"]],
                                         on=["model", "process", "noise"])
    return plots.c_of_r_at_peak(at, exp, n)


def grammar_fig_cochange(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Mean width of the smallest true constituent holding two tokens against their distance:
    over all pairs (the distance-matched baseline) and weighted by co-changes, for the grammar
    and the HMM, at the grammar's chi peak of each process, at one length."""
    exp = wildcards["experiment"]
    chi = _experiment(io.read_table(inputs["susceptibility"], "grammar_susceptibility"), exp,
                      "susceptibility")
    cochange = _experiment(io.read_table(inputs["cochange"], "grammar_cochange"), exp,
                           "cochange")
    n = figure_length(chi)
    peaks = chi_peaks(chi, n)
    peaks = peaks[peaks["model"] == "grammar"][["process", "noise"]]
    at = cochange[cochange["length"] == n].merge(peaks, on=["process", "noise"])
    return plots.cochange_vs_distance(at, exp, n)
