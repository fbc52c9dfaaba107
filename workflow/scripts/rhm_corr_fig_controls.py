"""Change correlations: the hierarchy beside data without one (chi and C(r) per family)."""
from hierphase import io, jobs
from hierphase.plots import correlations as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
inp = snakemake.input
fig = plots.controls(io.read_table(inp.susceptibility), io.read_table(inp.correlations),
                     eps_star=dict(snakemake.params.eps_star))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
