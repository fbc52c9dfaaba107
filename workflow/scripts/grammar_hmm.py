"""Grammar branch: the control without hierarchy, an HMM fitted to the grammar's sentences."""
from hierphase import io, jobs
from hierphase.stages import grammar as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc = snakemake.params, snakemake.wildcards
hmm, history = stage.fit_control(io.load_tensors(snakemake.input.grammar), length=p.length,
                                 seed=p.seed, **p.fit)
io.save_tensors(snakemake.output.hmm, hmm, config=jobs.job_config(wc, p), seed=p.seed,
                log_likelihood=history)
