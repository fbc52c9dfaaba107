"""Figure: per-level validity of the trained models' samples against the training step."""
from hierphase import io, jobs
from hierphase.plots import learned as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
fig = plots.learning_curves(io.read_table(snakemake.input.curve))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
