"""Figure (a): class kept vs eps for every depth L, exact BP and mean field, eps* marked."""
import pandas as pd

from hierphase import io, jobs
from hierphase.plots import rhm as plots
from hierphase.plots.style import save_figure

jobs.log_to(snakemake.log[0])
p = snakemake.params
theory = pd.concat([io.read_table(path) for path in snakemake.input.theory], ignore_index=True)
fig = plots.class_vs_eps(io.read_table(snakemake.input.kept), theory, io.read_table(snakemake.input.summary),
                         depths=p.depths, n_classes=p.n_classes)
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
