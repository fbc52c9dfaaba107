"""Learned branch: exact-BP sweep on the same test trees and noisy states as the learned sweeps."""
from hierphase import io, jobs, rhm
from hierphase.noise import GaussianSchedule
from hierphase.stages import learned as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc = snakemake.params, snakemake.wildcards
table = stage.bp_reference(rhm.load_rules(snakemake.input.rules), wc.process, GaussianSchedule(**p.schedule),
                           p.grid, p.n, seed=p.seed, experiment=wc.experiment, rule_seed=p.rule_seed)
io.write_table(table, snakemake.output.table, config=jobs.job_config(wc, p), seed=p.seed)
