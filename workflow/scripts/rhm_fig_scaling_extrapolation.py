"""Finite-size scaling: half points and crossings -> eps*, and the width ~ d^(-1/nu)."""
from hierphase import io, jobs
from hierphase.plots import finite_size as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
p = snakemake.params
fig = plots.extrapolation(io.read_table(snakemake.input.points),
                          io.read_table(snakemake.input.scaling), v=p.v, m=p.m, s=p.s,
                          processes=list(p.processes))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
