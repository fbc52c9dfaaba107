"""Population dynamics of BP's messages over random rules: one replica's class-curve widths."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
table = stage.population_widths(int(wc.v), int(wc.m), int(wc.s), depths=list(p.depths),
                                width_depths=list(p.width_depths), n_per_value=p.n_per_value,
                                replica=int(wc.replica), seed=p.seed)
io.write_table(table, out.table, config=jobs.job_config(wc, p), seed=p.seed)
