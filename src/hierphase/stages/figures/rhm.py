"""Figure glue of the RHM branch (exact BP, change correlations, phase diagram, finite-size
scaling): one function per figure rule of ``hierphase.plan.rhm``, named after it, from the rule's
inputs, params and wildcards to a figure."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from hierphase import io, scaling
from hierphase.plots import correlations, finite_size, hierarchy, phase_diagram
from hierphase.plots import rhm as plots

__all__ = [
    "rhm_fig_class_vs_eps", "rhm_fig_levels_vs_eps", "rhm_fig_time", "rhm_fig_cobweb",
    "rhm_corr_fig_c_of_r", "rhm_corr_fig_chi", "rhm_corr_fig_xi_scaling", "rhm_corr_fig_collapse",
    "rhm_corr_fig_controls", "rhm_fig_phase_plane", "rhm_fig_phase_eps_star",
    "rhm_fig_scaling_collapse", "rhm_fig_scaling_extrapolation",
]


def _theory(paths) -> pd.DataFrame:
    """The mean-field level tables of every depth, one table."""
    return pd.concat([io.read_table(path) for path in paths], ignore_index=True)


def _lengths(path, experiment: str) -> pd.DataFrame:
    """One experiment's rows of the pooled correlation-length table, without its name."""
    lengths = io.read_table(path)
    return lengths[lengths["experiment"] == experiment].drop(columns="experiment")


def rhm_fig_class_vs_eps(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Figure (a): class kept vs eps for every depth L, exact BP and mean field, eps* marked."""
    return plots.class_vs_eps(io.read_table(inputs["kept"]), _theory(inputs["theory"]),
                              io.read_table(inputs["summary"]), depths=params["depths"],
                              n_classes=params["n_classes"])


def rhm_fig_levels_vs_eps(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Figure (b): every level of one deep tree vs eps, exact BP and mean field, eps* marked."""
    return plots.levels_vs_eps(io.read_table(inputs["kept"]), _theory(inputs["theory"]),
                               io.read_table(inputs["summary"]), depth=params["depth"],
                               n_classes=params["n_classes"])


def rhm_fig_time(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Figure (c): class kept for every L and every level of one deep tree vs t/T, one
    time-based process."""
    return plots.time_views(io.read_table(inputs["kept"]), wildcards["time_process"],
                            depths=params["depths"], depth=params["depth"],
                            n_classes=params["n_classes"])


def rhm_fig_cobweb(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Figure (d): cobweb of the mean-field map with its fixed points."""
    return plots.cobweb(params["v"], params["m"], params["s"], io.read_table(inputs["summary"]),
                        depth=params["depth"])


def rhm_corr_fig_c_of_r(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Change correlations: C(r) against r at several noise values, BP and mean field."""
    process = wildcards["process"]
    return correlations.c_of_r(io.read_table(inputs["correlations"]), wildcards["experiment"],
                               process, params["L"],
                               eps_star=params["eps_star"] if process == "epsilon" else None)


def rhm_corr_fig_chi(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Change correlations: susceptibility chi against the noise, one curve per depth."""
    return correlations.chi_vs_noise(io.read_table(inputs["susceptibility"]),
                                     wildcards["experiment"], params["eps_star"])


def rhm_corr_fig_xi_scaling(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Change correlations: the correlation length against |eps - eps*|, with the fitted nu."""
    experiment = wildcards["experiment"]
    eps_star, nu_mean_field = params["critical"]
    pairs, susceptibility = io.read_table(inputs["correlations"]), io.read_table(inputs["susceptibility"])
    lengths = _lengths(inputs["lengths"], experiment)
    fits = scaling.nu_fits(pairs, susceptibility, experiment, eps_star, lengths=lengths)
    return correlations.xi_scaling(susceptibility, experiment, eps_star, fits,
                                   nu_mean_field=nu_mean_field, lengths=lengths)


def rhm_corr_fig_collapse(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Change correlations: collapse of C(r) r^a against r / xi."""
    experiment = wildcards["experiment"]
    return correlations.collapse(io.read_table(inputs["correlations"]),
                                 io.read_table(inputs["susceptibility"]), experiment,
                                 eps_star=params["eps_star"],
                                 lengths=_lengths(inputs["lengths"], experiment))


def rhm_corr_fig_controls(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Change correlations: the hierarchy beside data without one (chi and C(r) per family)."""
    return correlations.controls(io.read_table(inputs["susceptibility"]),
                                 io.read_table(inputs["correlations"]),
                                 eps_star=dict(params["eps_star"]))


def rhm_corr_fig_level_exponents(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Change correlations: the exponent of C fitted per tree level at the chi peak, exact BP
    and mean field on the same windows, beside the spatial convention."""
    return hierarchy.level_exponents(io.read_table(inputs["table"]),
                                     experiment=wildcards["experiment"])


def rhm_corr_fig_signature(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Change correlations: what marks a hierarchy (chi_max against d, the class flip's width,
    the decay across tree levels), the RHM beside controls with a sharp flip and none."""
    return hierarchy.hierarchy_controls(io.read_table(inputs["summary"]),
                                        io.read_table(inputs["correlations"]))


def rhm_fig_depth_estimate(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Depth from the correlations: the feature against the depth, the estimate against the
    truth for held-out RHMs."""
    return hierarchy.depth_estimates(io.read_table(inputs["estimates"]),
                                     io.read_table(inputs["calibration"]))


def rhm_fig_phase_plane(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Phase diagram: the (v, m) plane per s, mean field's line and BP's transitions."""
    return phase_diagram.phase_plane(io.read_table(inputs["table"]))


def rhm_fig_phase_eps_star(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Phase diagram: exact BP's eps* (half point and extrapolation) against mean field's."""
    return phase_diagram.eps_star_comparison(io.read_table(inputs["table"]))


def rhm_fig_scaling_collapse(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Finite-size scaling: class kept against (eps - eps*) d^(1/nu), exact BP and mean field."""
    return finite_size.collapse(io.read_table(inputs["kept"]), io.read_table(inputs["scaling"]),
                                v=params["v"], m=params["m"], s=params["s"],
                                n_classes=params["n_classes"], processes=list(params["processes"]))


def rhm_fig_scaling_extrapolation(inputs: Mapping, params: Mapping, wildcards: Mapping):
    """Finite-size scaling: half points and crossings -> eps*, and the width ~ d^(-1/nu)."""
    return finite_size.extrapolation(io.read_table(inputs["points"]),
                                     io.read_table(inputs["scaling"]), v=params["v"],
                                     m=params["m"], s=params["s"],
                                     processes=list(params["processes"]))
