"""Figure: per-level validity of the trained models' samples against the training-set size P."""
from hierphase import io, jobs
from hierphase.plots import learned as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
fig = plots.validity_vs_P(io.read_table(snakemake.input.validity))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
