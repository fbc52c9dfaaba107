"""The critical point side by side: population dynamics, exact BP's class-curve width and
correlation lengths, annealed mean field."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
p, inp, out = snakemake.params, snakemake.input, snakemake.output
estimates = stage.critical_estimates(
    io.read_table(inp.population), io.read_table(inp.extrapolation),
    io.read_table(inp.width_exponents),
    {name: io.read_table(path) for name, path in zip(p.scaled, inp.scaling)},
    io.read_table(inp.exponents) if "exponents" in inp.keys() else None, dict(p.experiments))
io.write_table(estimates, out.estimates, out.estimates_csv, config=jobs.job_config(p))
