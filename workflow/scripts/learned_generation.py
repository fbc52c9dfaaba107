"""Learned branch, stage 3a: samples from pure noise -> grammaticality and memorisation (one row),
and the same samples' validity per level (one row per level)."""
from hierphase import io, jobs, rhm
from hierphase.stages import learned as stage

device = jobs.start_device_job(snakemake, "learned")
p, wc = snakemake.params, snakemake.wildcards
tables = stage.evaluate_generation(rhm.load_rules(snakemake.input.rules), snakemake.input.model, p.n,
                                   sample_steps=p.sample_steps, data_seed=p.data_seed, seed=p.seed,
                                   experiment=wc.experiment, P=int(wc.P), train_seed=int(wc.train_seed),
                                   batch_size=p.batch_size, device=device)
for name, path in (("generation", snakemake.output.table), ("validity", snakemake.output.validity)):
    io.write_table(tables[name], path, config=jobs.job_config(wc, p), seed=p.seed)
