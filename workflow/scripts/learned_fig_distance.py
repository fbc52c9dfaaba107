"""Figure: max |learned - exact BP| class-kept curve vs training-set size P."""
from hierphase import io, jobs
from hierphase.plots import learned as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
fig = plots.distance_vs_P(io.read_table(snakemake.input.distance), tolerance=snakemake.params.tolerance)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
