"""Images branch figure: probability that the class is kept vs t/T, with its confidence band."""
from hierphase.io import read_table
from hierphase.jobs import log_to
from hierphase.plots.images import class_kept_figure
from hierphase.plots.style import save_figure

log_to(snakemake.log[0])
fig = class_kept_figure(read_table(snakemake.input.table), n_classes=snakemake.params.n_classes)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
