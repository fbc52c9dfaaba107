"""Figure: per-level kept vs t/T of the trained models (one panel per P) over exact BP, one process."""
from hierphase import io, jobs
from hierphase.plots import learned as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
wc = snakemake.wildcards
fig = plots.kept_overlay(io.read_table(snakemake.input.kept), wc.experiment, wc.process)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
