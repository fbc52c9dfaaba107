"""RHM change correlations: the mean-field pair theory of the epsilon-process at one depth."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
correlations, susceptibility = stage.mean_field_correlations(
    p.v, p.m, p.s, int(wc.L), p.points, n_classes=p.n_classes, experiment=wc.experiment)
config = jobs.job_config(wc, p)
io.write_table(correlations, out.correlations, config=config)
io.write_table(susceptibility, out.susceptibility, config=config)
