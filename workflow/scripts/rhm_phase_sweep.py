"""Phase diagram, stage 1: rules, data and exact-BP class curves at every depth of one (s, v, m)."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc = snakemake.params, snakemake.wildcards
table = stage.phase_point_sweep(int(wc.v), int(wc.m), int(wc.s), p.depths, p.values, seed=p.seed,
                                n_samples=p.n_samples, batch_size=p.batch_size,
                                n_classes=p.n_classes, rule_seed=int(wc.rule_seed))
io.write_table(table, snakemake.output.table, config=jobs.job_config(wc, p), seed=p.seed)
