"""Figure (d): cobweb of the mean-field map with its fixed points."""
from hierphase import io, jobs
from hierphase.plots import rhm as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
p = snakemake.params
fig = plots.cobweb(p.v, p.m, p.s, io.read_table(snakemake.input.summary), depth=p.depth)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
