"""Learned branch, stage 3b: forward-backward sweep with the learned reverse process -> kept table."""
from hierphase import io, jobs, rhm
from hierphase.stages import learned as stage

device = jobs.start_device_job(snakemake, "learned")
p, wc = snakemake.params, snakemake.wildcards
table = stage.evaluate_sweep(rhm.load_rules(snakemake.input.rules), snakemake.input.model, p.grid, p.n,
                             sample_steps=p.sample_steps, seed=p.seed, experiment=wc.experiment,
                             P=int(wc.P), train_seed=int(wc.train_seed), rule_seed=p.rule_seed,
                             batch_size=p.batch_size, device=device)
io.write_table(table, snakemake.output.table, config=jobs.job_config(wc, p), seed=p.seed)
