"""Figure: training loss curves of every trained model."""
from hierphase import io, jobs
from hierphase.plots import learned as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
fig = plots.loss_curves(io.read_table(snakemake.input.loss))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
