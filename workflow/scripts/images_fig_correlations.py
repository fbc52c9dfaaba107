"""Images branch figure: chi(t) and xi(t) of the patch changes on the t/T axis of the class-kept
curve and the layer similarities, the class half-point marked."""
from hierphase.io import read_table
from hierphase.jobs import log_to
from hierphase.plots.images import correlations_figure
from hierphase.plots.style import save_figure

log_to(snakemake.log[0])
inp = snakemake.input
fig = correlations_figure(read_table(inp.class_kept), read_table(inp.layer_similarity),
                          read_table(inp.susceptibility), n_classes=snakemake.params.n_classes)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
