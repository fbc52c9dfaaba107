"""MDLM branch: the grammar experiment's data, a random PCFG with training and test sentences."""
from hierphase import io, jobs
from hierphase.stages import mdlm as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc = snakemake.params, snakemake.wildcards
data, info = stage.grammar_data(p.random, length=p.length, n_train=p.n_train, n_test=p.n_test,
                                seed=p.seed)
io.save_tensors(snakemake.output.data, data, config=jobs.job_config(wc, p), seed=p.seed,
                grammar=info)
