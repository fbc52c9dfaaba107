"""hierphase: forward-backward diffusion experiments on hierarchical data.

Modules, one per topic: ``rhm`` (Random Hierarchy Model), ``noise`` (forward processes on RHM
leaves), ``bp`` (exact belief propagation), ``theory`` (mean-field map), ``observables``,
``correlations`` (change correlations: C(r), susceptibility, correlation length),
``seeding``, ``io``, ``stats``, ``plots``; sub-packages ``learned`` (trained denoisers on RHM data)
and ``images`` (image diffusion models and classifiers). Nothing here imports Snakemake.
"""

__version__ = "0.1.0"
