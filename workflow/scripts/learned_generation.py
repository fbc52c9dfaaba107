"""Learned branch, stage 3a: samples from pure noise -> grammaticality and memorisation (one row)."""
from hierphase import io, jobs, rhm
from hierphase.stages import learned as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc = snakemake.params, snakemake.wildcards
table = stage.evaluate_generation(rhm.load_rules(snakemake.input.rules), snakemake.input.model,
                                       p.evaluation["n_generated"], p.root_seed, wc.experiment, int(wc.P), int(wc.train_seed),
                                       batch_size=p.batch_size, device=p.device)
io.write_table(table, snakemake.output.table, config=jobs.job_config(wc, p), seed=p.root_seed)
