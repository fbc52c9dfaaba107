"""Images branch figure: per-layer similarity of x0 and x̂0 vs t/T, coloured by depth."""
from hierphase.io import read_table
from hierphase.jobs import log_to
from hierphase.plots.images import layer_similarity_figure
from hierphase.plots.style import save_figure

log_to(snakemake.log[0])
save_figure(layer_similarity_figure(read_table(snakemake.input.table)), snakemake.output.png,
            snakemake.output.pdf)
