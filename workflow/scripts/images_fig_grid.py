"""Images branch figure: one clean image per row and its x̂0 at every t/T of the sweep."""
from hierphase.stages.images import read_sweep
from hierphase.images.shards import read_shard
from hierphase.jobs import log_to
from hierphase.plots.images import image_grid
from hierphase.plots.style import save_figure

log_to(snakemake.log[0])
clean = read_shard(snakemake.input.shard)
sweeps = sorted((read_sweep(path) for path in snakemake.input.sweeps), key=lambda s: s[1]["k"])
fig = image_grid(clean["images"], [s[0]["images"] for s in sweeps], [s[1]["t_over_T"] for s in sweeps],
                 n_rows=snakemake.params.n_rows, labels=[int(x) for x in clean["labels"]])
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
