"""Exact BP against population dynamics RHM by RHM: every RHM of the experiments at a population
point, its class curve's half point from the sweeps and from the population with its rules."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, inp, out = snakemake.params, snakemake.input, snakemake.output
kept = {name: io.read_table(path) for name, path in zip(p.experiments, inp.kept)}
table = stage.same_rules_table(kept, dict(p.experiments), n_per_value=p.n_per_value,
                               picks=p.picks, seed=p.seed)
io.write_table(table, out.table, out.csv, config=jobs.job_config(p), seed=p.seed)
