"""Change correlations of a control without hierarchy (Gaussian field, flat mixture), one shard."""
from hierphase import io, jobs
from hierphase.noise import GaussianSchedule
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
c, schedule = dict(p.control), GaussianSchedule(**p.schedule)
common = dict(seed=p.seed, n_x0=c["n_x0"], n_traj=c["n_traj"], n_boot=c["n_boot"],
              experiment=wc.control, progress=True)
if wc.control == "gaussian_field":
    correlations, susceptibility = stage.gaussian_field_shard(
        c["shape"], c["exponent"], p.values, schedule=schedule, **common)
else:
    correlations, susceptibility = stage.flat_mixture_shard(
        c["v"], c["n_classes"] or c["v"], c["d"], c["scale"], wc.process, p.values,
        schedule=schedule, **common)
config = jobs.job_config(wc, p)
io.write_table(correlations, out.correlations, config=config, seed=p.seed)
io.write_table(susceptibility, out.susceptibility, config=config, seed=p.seed)
