"""Learned branch, stage 1: draw the production rules of one experiment's RHM."""
from hierphase import jobs, rhm
from hierphase.stages import learned as stage

jobs.log_to(snakemake.log[0])
p, wc = snakemake.params, snakemake.wildcards
rules = stage.draw_rules(p.v, p.m, p.s, p.L, n_classes=p.n_classes, seed=p.seed)
rhm.save_rules(rules, snakemake.output.rules, config=jobs.job_config(wc, p), seed=p.seed)
