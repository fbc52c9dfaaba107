"""Stage 5 of the RHM branch: mean-field reconstruction of every level of a depth-L tree vs eps."""
from hierphase import io, jobs, pipeline_rhm

jobs.log_to(snakemake.log[0])
p = snakemake.params
table = pipeline_rhm.theory_levels_table(p.v, p.m, p.s, int(snakemake.wildcards.L), p.points, n_classes=p.n_classes)
io.write_table(table, snakemake.output.table, snakemake.output.csv, config=jobs.job_config(snakemake.wildcards, p))
