"""Learned branch: every model's and exact BP's change correlations in two tables, and the gap
between each model's chi(t) and exact BP's."""
from hierphase import io, jobs
from hierphase.stages import learned as stage

jobs.log_to(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
tables = stage.collect_correlations(list(inp.correlations), list(inp.susceptibility))
for name, table in tables.items():
    io.write_table(table, out[name], out[f"{name}_csv"])
