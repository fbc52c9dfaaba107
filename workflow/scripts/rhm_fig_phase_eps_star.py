"""Phase diagram figure: exact BP's eps* (half point and extrapolation) against mean field's."""
from hierphase import io, jobs
from hierphase.plots import phase_diagram as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
fig = plots.eps_star_comparison(io.read_table(snakemake.input.table))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
