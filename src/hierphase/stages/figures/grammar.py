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
           "grammar_fig_cochange", "grammar_fig_phase_diagram", "figure_length", "chi_peaks"]


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


def _at_chi_peaks(inputs: Mapping, experiment: str, name: str,
                  models: tuple[str, ...] = ("grammar", "hmm")) -> tuple[pd.DataFrame, int]:
    """The rows of the experiment's pooled table ``name`` (an input of the rule) at the figure's
    length and at the chi peak of each (model, process) of ``models``; the length. With one
    model the rows of every model are taken at that model's peaks (the same noisy sentences)."""
    chi = _experiment(io.read_table(inputs["susceptibility"], "grammar_susceptibility"),
                      experiment, "susceptibility")
    table = _experiment(io.read_table(inputs[name], f"grammar_{name}"), experiment, name)
    n = figure_length(chi)
    peaks = chi_peaks(chi, n)
    peaks = peaks[peaks["model"].isin(models)]
    keys = ["model", "process", "noise"] if len(models) > 1 else ["process", "noise"]
    return table[table["length"] == n].merge(peaks[keys], on=keys), n


def grammar_fig_c_of_r(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """C(r) at each model's chi peak, one panel per process, at one length."""
    at, n = _at_chi_peaks(inputs, wildcards["experiment"], "correlations")
    return plots.c_of_r_at_peak(at, wildcards["experiment"], n)


def grammar_fig_cochange(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Mean width of the smallest true constituent holding two tokens against their distance:
    over all pairs (the distance-matched baseline) and weighted by co-changes, for the grammar
    and the HMM, at the grammar's chi peak of each process, at one length."""
    at, n = _at_chi_peaks(inputs, wildcards["experiment"], "cochange", models=("grammar",))
    return plots.cochange_vs_distance(at, wildcards["experiment"], n)


def grammar_fig_phase_diagram(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Across the grammars: how the class curve's width changes with the sentence length, and
    the half point (with the RHM mean field's where a grammar is an RHM)."""
    return plots.phase_diagram(io.read_table(inputs["phase"], "grammar_phase"))
