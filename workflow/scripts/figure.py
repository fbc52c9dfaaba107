"""Every figure rule (generated from the figure tables, workflow/rules/common.smk): draws the
figure with the function its entry names (params.draw, module:function) from the rule's inputs,
other params and wildcards, and saves it as PNG and PDF."""
from hierphase import jobs
from hierphase.plots.style import save_figure
from hierphase.stages import figures

jobs.log_to(snakemake.log[0])
params = dict(snakemake.params.items())
fig = figures.draw(params.pop("draw"), snakemake.input, params, snakemake.wildcards)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
