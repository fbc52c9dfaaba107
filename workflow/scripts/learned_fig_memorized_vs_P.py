"""Figure: the fraction of generated samples that copy a training datum against P, next to what
a model that samples the whole grammar uniformly would copy."""
from hierphase import io, jobs, rhm
from hierphase.plots import learned as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
n_data = {path.split("/")[-2]: rhm.n_data(rhm.load_rules(path)) for path in snakemake.input.rules}
fig = plots.memorized_vs_P(io.read_table(snakemake.input.evaluation), n_data)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
