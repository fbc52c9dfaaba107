"""Images branch figure (digits): the DDPM's unconditional samples and the classifier's confidence."""
from hierphase.io import load_tensors
from hierphase.jobs import log_to
from hierphase.plots.images import samples_figure
from hierphase.plots.style import save_figure

log_to(snakemake.log[0])
samples = load_tensors(snakemake.input.samples)
fig = samples_figure(samples["images"], samples["confidence"], threshold=snakemake.params.confidence)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
