"""Figure glue of the MDLM branch: one function per figure rule of ``hierphase.plan.mdlm``, named
after it, from the rule's inputs (the pooled tables) to a figure."""

from __future__ import annotations

from collections.abc import Mapping

from hierphase import io
from hierphase.plots import mdlm as plots
from hierphase.stages.mdlm import FOLLOW_UP

__all__ = ["mdlm_fig_grammar_kept", "mdlm_fig_grammar_chi", "mdlm_fig_text_chi",
           "mdlm_fig_text_xi"]


def mdlm_fig_grammar_kept(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Class kept and grammatical fraction against t/T, the MDLMs beside the exact posterior;
    the acceptance threshold (param ``min_grammatical``) dotted."""
    kept = io.read_table(inputs["kept"], "mdlm_grammar_kept")
    return plots.grammar_kept(kept, params.get("min_grammatical"))


def mdlm_fig_grammar_chi(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """chi against t/T, the MDLMs beside the exact posterior."""
    return plots.grammar_chi(io.read_table(inputs["susceptibility"], "mdlm_grammar_susceptibility"))


def mdlm_fig_text_chi(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """chi against t/T per cutoff for the MDLM and its controls, the follow-up's peak marked."""
    return plots.text_chi(io.read_table(inputs["chi"], "mdlm_text_chi"), FOLLOW_UP["chi_peak_t"],
                          FOLLOW_UP["chi_R"])


def mdlm_fig_text_xi(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """xi against t/T for the MDLM and its controls, the follow-up's value marked."""
    return plots.text_xi(io.read_table(inputs["chi"], "mdlm_text_chi"), FOLLOW_UP["xi_max"],
                         FOLLOW_UP["xi_t"])
