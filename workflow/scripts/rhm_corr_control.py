"""Change correlations of a control without hierarchy (Gaussian field, flat mixture, random code,
the RHM with its leaves permuted), one shard."""
from hierphase import io, jobs
from hierphase.noise import GaussianSchedule
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
correlations, susceptibility = stage.control_shard(
    wc.control, dict(p.control), wc.process, p.values, seed=p.seed,
    schedule=GaussianSchedule(**p.schedule), experiment=wc.control,
    inputs=dict(snakemake.input.items()), progress=True)
config = jobs.job_config(wc, p)
io.write_table(correlations, out.correlations, config=config, seed=p.seed)
io.write_table(susceptibility, out.susceptibility, config=config, seed=p.seed)
