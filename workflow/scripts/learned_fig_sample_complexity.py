"""Figure: P*_l, the training-set size at which level l's validity reaches each threshold,
against the level, on a log scale."""
from hierphase import io, jobs, rhm
from hierphase.plots import learned as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
params = {path.split("/")[-2]: rhm.load_rules(path) for path in snakemake.input.rules}
fig = plots.sample_complexity(io.read_table(snakemake.input.sample_complexity),
                              {name: (r.v, r.m, r.s, r.L) for name, r in params.items()})
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
