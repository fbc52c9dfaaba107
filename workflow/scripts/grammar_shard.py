"""Grammar branch: one shard, the grammar's (or the HMM's) exact denoising of the sentences of one
length at one noise value: kept table, change correlations, co-changes against the true trees."""
from hierphase import io, jobs
from hierphase.stages import grammar as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
tables = stage.sweep_shard(
    wc.model, io.load_tensors(snakemake.input.model), io.load_tensors(snakemake.input.sentences),
    experiment=wc.experiment, n=int(wc.n), process=wc.process, level=p.level, seed=p.seed,
    **p.correlations)
config = jobs.job_config(wc, p)
for name, table in tables.items():
    io.write_table(table, out[name], config=config, seed=p.seed, table=f"grammar_{name}")
