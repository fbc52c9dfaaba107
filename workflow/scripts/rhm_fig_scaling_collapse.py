"""Finite-size scaling: class kept against (eps - eps*) d^(1/nu), exact BP and mean field."""
from hierphase import io, jobs
from hierphase.plots import finite_size as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
p = snakemake.params
fig = plots.collapse(io.read_table(snakemake.input.kept), io.read_table(snakemake.input.scaling),
                     v=p.v, m=p.m, s=p.s, n_classes=p.n_classes, processes=list(p.processes))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
