"""Stage 5 of the RHM branch: fixed points of the mean-field map, p*, eps*, F'(p*) and nu."""
from hierphase.stages import rhm as stage
from hierphase import io, jobs

jobs.log_to(snakemake.log[0])
p = snakemake.params
table = stage.theory_summary_table(p.v, p.m, p.s)
io.write_table(table, snakemake.output.table, snakemake.output.csv, config=jobs.job_config(snakemake.wildcards, p))
