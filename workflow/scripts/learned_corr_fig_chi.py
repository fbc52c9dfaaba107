"""Figure: chi of the leaves vs t/T of the trained models (one colour per P) over exact BP, one process."""
from hierphase import io, jobs
from hierphase.plots import learned as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
wc = snakemake.wildcards
fig = plots.chi_overlay(io.read_table(snakemake.input.susceptibility), wc.experiment, wc.process)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
