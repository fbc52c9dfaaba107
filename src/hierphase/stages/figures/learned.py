"""Figure glue of the learned branch: one function per figure rule of ``hierphase.plan.learned``,
named after it, from the rule's inputs, params and wildcards to a figure."""

from __future__ import annotations

from collections.abc import Mapping

from hierphase import io
from hierphase.plots import learned as plots

__all__ = [
    "learned_fig_kept", "learned_corr_fig_chi", "learned_fig_distance", "learned_fig_loss",
    "learned_fig_validity_vs_P", "learned_fig_memorized_vs_P", "learned_fig_learning_curve",
    "learned_fig_sample_complexity",
]


def _rules(paths) -> dict:
    """experiment -> its RHM, from the rules files ``.../<experiment>/<file>``."""
    from hierphase import rhm  # torch: only the figures that read rules pay its import

    return {path.split("/")[-2]: rhm.load_rules(path) for path in paths}


def learned_fig_kept(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Per-level kept vs t/T of the trained models (one panel per P) over exact BP, one process."""
    return plots.kept_overlay(io.read_table(inputs["kept"]), wildcards["experiment"],
                              wildcards["process"])


def learned_corr_fig_chi(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """chi of the leaves vs t/T of the trained models (one colour per P) over exact BP, one
    process."""
    return plots.chi_overlay(io.read_table(inputs["susceptibility"]), wildcards["experiment"],
                             wildcards["process"])


def learned_fig_distance(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """max |learned - exact BP| class-kept curve vs training-set size P."""
    return plots.distance_vs_P(io.read_table(inputs["distance"]), tolerance=params["tolerance"])


def learned_fig_loss(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Training loss curves of every trained model."""
    return plots.loss_curves(io.read_table(inputs["loss"]))


def learned_fig_validity_vs_P(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Per-level validity of the trained models' samples against the training-set size P."""
    return plots.validity_vs_P(io.read_table(inputs["validity"]))


def learned_fig_memorized_vs_P(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """The fraction of generated samples that copy a training datum against P, next to what a
    model that samples the whole grammar uniformly would copy."""
    from hierphase.rhm import n_data

    sizes = {name: n_data(rules) for name, rules in _rules(inputs["rules"]).items()}
    return plots.memorized_vs_P(io.read_table(inputs["evaluation"]), sizes)


def learned_fig_learning_curve(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Per-level validity of the trained models' samples against the training step."""
    return plots.learning_curves(io.read_table(inputs["curve"]))


def learned_fig_sample_complexity(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """P*_l, the training-set size at which level l's validity reaches each threshold, against
    the level, on a log scale."""
    shapes = {name: (r.v, r.m, r.s, r.L) for name, r in _rules(inputs["rules"]).items()}
    return plots.sample_complexity(io.read_table(inputs["sample_complexity"]), shapes)
