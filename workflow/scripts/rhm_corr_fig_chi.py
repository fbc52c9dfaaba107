"""Change correlations: susceptibility chi against the noise, one curve per depth."""
from hierphase import io, jobs
from hierphase.plots import correlations as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
fig = plots.chi_vs_noise(io.read_table(snakemake.input.susceptibility),
                         snakemake.wildcards.experiment, snakemake.params.eps_star)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
