"""Stage 5 of the RHM branch: mean-field reconstruction of every level of a depth-L tree vs eps."""
from hierphase.stages import rhm as stage
from hierphase import io, jobs

jobs.log_to(snakemake.log[0])
p = snakemake.params
table = stage.theory_levels_table(p.v, p.m, p.s, int(snakemake.wildcards.L), p.points, n_classes=p.n_classes)
io.write_table(table, snakemake.output.table, snakemake.output.csv, config=jobs.job_config(snakemake.wildcards, p))
