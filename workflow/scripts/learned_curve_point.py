"""Learned branch, learning curve: the per-level validity of one model's samples at one training
step (its snapshot there, or the final model at the last step)."""
from hierphase import io, jobs, rhm
from hierphase.stages import learned as stage

device = jobs.start_device_job(snakemake, "learned")
p, wc = snakemake.params, snakemake.wildcards
table = stage.evaluate_curve_point(rhm.load_rules(snakemake.input.rules), snakemake.input.weights,
                                   p.n, step=int(wc.step), sample_steps=p.sample_steps,
                                   data_seed=p.data_seed, seed=p.seed, experiment=wc.experiment,
                                   P=int(wc.P), train_seed=int(wc.train_seed),
                                   batch_size=p.batch_size, device=device)
io.write_table(table, snakemake.output.table, config=jobs.job_config(wc, p), seed=p.seed)
