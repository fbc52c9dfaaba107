"""Change correlations: C(r) against r at several noise values, BP and mean field."""
from hierphase import io, jobs
from hierphase.plots import correlations as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
p, wc = snakemake.params, snakemake.wildcards
fig = plots.c_of_r(io.read_table(snakemake.input.correlations), wc.experiment, wc.process, p.L,
                   eps_star=p.eps_star if wc.process == "epsilon" else None)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
