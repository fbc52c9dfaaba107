"""Change correlations: collapse of C(r) r^a against r / xi."""
from hierphase import io, jobs
from hierphase.plots import correlations as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
inp, experiment = snakemake.input, snakemake.wildcards.experiment
lengths = io.read_table(inp.lengths)
fig = plots.collapse(io.read_table(inp.correlations), io.read_table(inp.susceptibility), experiment,
                     eps_star=snakemake.params.eps_star,
                     lengths=lengths[lengths["experiment"] == experiment].drop(columns="experiment"))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
