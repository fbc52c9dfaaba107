"""Learned branch: the learning-curve table (every model's validity per training step) and the
sample-complexity table (per level, the P at which validity reaches each threshold)."""
from hierphase import io, jobs
from hierphase.stages import learned as stage

jobs.log_to(snakemake.log[0])
i, o = snakemake.input, snakemake.output
tables = stage.curve_tables(i.points, io.read_table(i.validity), snakemake.params.thresholds,
                            min_samples=snakemake.params.min_samples)
for name, df in tables.items():
    io.write_table(df, o[name], o[f"{name}_csv"], thresholds=list(snakemake.params.thresholds),
                   min_samples=snakemake.params.min_samples)
