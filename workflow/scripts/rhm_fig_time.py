"""Figure (c): class kept for every L and every level of one deep tree vs t/T, one time-based process."""
from hierphase import io, jobs
from hierphase.plots import rhm as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
p = snakemake.params
fig = plots.time_views(io.read_table(snakemake.input.kept), snakemake.wildcards.time_process, depths=p.depths,
                       depth=p.depth, n_classes=p.n_classes)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
