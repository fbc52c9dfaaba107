"""Stage 1 of the RHM branch: draw the production rules of one RHM (experiment, L, rule seed)."""
from hierphase import jobs, rhm

jobs.log_to(snakemake.log[0])
p = snakemake.params
rules = rhm.sample_rules(p.v, p.m, p.s, int(snakemake.wildcards.L), n_classes=p.n_classes, seed=p.seed)
rhm.save_rules(rules, snakemake.output.rules, config=jobs.job_config(snakemake.wildcards, p), seed=p.seed)
