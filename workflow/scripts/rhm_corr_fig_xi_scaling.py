"""Change correlations: the correlation length against |eps - eps*|, with the fitted nu."""
from hierphase import io, jobs, scaling
from hierphase.plots import correlations as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
inp, experiment = snakemake.input, snakemake.wildcards.experiment
eps_star, nu_mean_field = snakemake.params.critical
correlations, susceptibility = io.read_table(inp.correlations), io.read_table(inp.susceptibility)
lengths = io.read_table(inp.lengths)
lengths = lengths[lengths["experiment"] == experiment].drop(columns="experiment")
fits = scaling.nu_fits(correlations, susceptibility, experiment, eps_star, lengths=lengths)
fig = plots.xi_scaling(susceptibility, experiment, eps_star, fits, nu_mean_field=nu_mean_field,
                       lengths=lengths)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
