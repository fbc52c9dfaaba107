"""Learned branch: exact BP's change correlations on the same x0 and noisy states as the models'."""
from hierphase import io, jobs, rhm
from hierphase.noise import GaussianSchedule
from hierphase.stages import learned as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
correlations, susceptibility = stage.bp_correlations(
    rhm.load_rules(snakemake.input.rules), wc.process, GaussianSchedule(**p.schedule), p.grid,
    p.n_x0, p.n_traj, n_boot=p.n_boot, seed=p.seed, experiment=wc.experiment,
    rule_seed=p.rule_seed)
config = jobs.job_config(wc, p)
io.write_table(correlations, out.correlations, config=config, seed=p.seed)
io.write_table(susceptibility, out.susceptibility, config=config, seed=p.seed)
