"""Stage 2 of the RHM branch: clean data with their whole latent trees, for one RHM."""
from hierphase import io, jobs, rhm

jobs.log_to(snakemake.log[0])
p = snakemake.params
rules = rhm.load_rules(snakemake.input.rules)
trees = rhm.sample_trees(rules, p.n_samples, seed=p.seed)
io.save_tensors(snakemake.output.trees, {"levels": trees}, config=jobs.job_config(snakemake.wildcards, p), seed=p.seed)
