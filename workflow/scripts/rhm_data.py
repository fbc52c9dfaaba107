"""Stage 2 of the RHM branch: clean data with their whole latent trees, for one RHM."""
from hierphase import io, jobs, rhm
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
p, wc = snakemake.params, snakemake.wildcards
trees = stage.draw_data(rhm.load_rules(snakemake.input.rules), p.n_samples, seed=p.seed)
io.save_tensors(snakemake.output.trees, {"levels": trees}, config=jobs.job_config(wc, p), seed=p.seed)
