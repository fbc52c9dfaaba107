"""Learned branch: the summary tables (kept, evaluation, per-level validity, distance to exact BP, loss)
from per-model files."""
from hierphase import io, jobs
from hierphase.stages import learned as stage

jobs.log_to(snakemake.log[0])
i, o = snakemake.input, snakemake.output
tables = stage.collect_tables(i.kept, i.bp, i.generation, i.validity, i.loss)
for name, df in tables.items():
    io.write_table(df, o[name], o[f"{name}_csv"])
