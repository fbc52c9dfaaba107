"""Phase diagram figure: the (v, m) plane per s, mean field's line and BP's transitions."""
from hierphase import io, jobs
from hierphase.plots import phase_diagram as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
fig = plots.phase_plane(io.read_table(snakemake.input.table))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
