"""Learned branch, stage 3b: forward-backward sweep with the learned reverse process -> kept table."""
from hierphase import io, pipeline_rhm, rhm
from hierphase.learned import experiment

pipeline_rhm.log_to(snakemake.log[0])
pipeline_rhm.limit_threads(snakemake.threads)
p, wc = snakemake.params, snakemake.wildcards
table = experiment.evaluate_sweep(rhm.load_rules(snakemake.input.rules), snakemake.input.model, p.grid, p.n,
                                  p.root_seed, wc.lexp, int(wc.P), int(wc.tseed), p.rule_seed,
                                  batch_size=p.batch_size, device=p.device)
io.write_table(table, snakemake.output.table, config=pipeline_rhm.job_config(wc, p), seed=p.root_seed)
