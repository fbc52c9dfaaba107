"""RHM change correlations: forward-backward with exact BP, n_traj runs per datum, one shard."""
from hierphase import io, jobs, rhm
from hierphase.noise import GaussianSchedule
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
rules = rhm.load_rules(snakemake.input.rules)
trees = rhm.load_trees(snakemake.input.trees, rules)
schedule = None if p.schedule is None else GaussianSchedule(**p.schedule)
correlations, susceptibility = stage.correlation_shard(
    rules, trees, wc.process, p.values, seed=p.seed, n_x0=p.n_x0, n_traj=p.n_traj,
    schedule=schedule, n_boot=p.n_boot, experiment=wc.experiment,
    rule_seed=int(wc.rule_seed), progress=True)
config = jobs.job_config(wc, p)
io.write_table(correlations, out.correlations, config=config, seed=p.seed)
io.write_table(susceptibility, out.susceptibility, config=config, seed=p.seed)
