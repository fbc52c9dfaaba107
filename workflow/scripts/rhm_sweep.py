"""Stage 3 of the RHM branch: forward-backward with exact BP over one shard of the noise grid."""
from hierphase import io, jobs, rhm
from hierphase.noise import GaussianSchedule
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc = snakemake.params, snakemake.wildcards
rules = rhm.load_rules(snakemake.input.rules)
trees = rhm.load_trees(snakemake.input.trees, rules)
schedule = None if p.schedule is None else GaussianSchedule(**p.schedule)
table = stage.sweep_shard(rules, trees, wc.process, p.values, seed=p.seed, batch_size=p.batch_size,
                          schedule=schedule, experiment=wc.experiment, rule_seed=int(wc.rule_seed),
                          progress=True)
io.write_table(table, snakemake.output.table, snakemake.output.csv, config=jobs.job_config(wc, p), seed=p.seed)
