"""The critical point side by side: population dynamics, exact BP's class-curve width and
correlation lengths, annealed mean field; the population's nu over windows of three depths and
from its class curves' widths."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
p, inp, out = snakemake.params, snakemake.input, snakemake.output
summary, estimates, windows, widths = stage.critical_estimates(
    [io.read_table(f) for f in inp.replicas],
    {name: io.read_table(path) for name, path in zip(p.scaled, inp.scaling)},
    io.read_table(inp.exponents) if "exponents" in inp.keys() else None, dict(p.experiments),
    [io.read_table(f) for f in inp.widths])
config = jobs.job_config(p)
io.write_table(summary, out.population, out.population_csv, config=config)
io.write_table(estimates, out.estimates, out.estimates_csv, config=config)
io.write_table(windows, out.windows, out.windows_csv, config=config)
io.write_table(widths, out.widths, out.widths_csv, config=config)
