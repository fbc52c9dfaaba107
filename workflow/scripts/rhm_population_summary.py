"""The population dynamics' own tables: its summary per point and depth, its half points
extrapolated over the depth, its effective nu over windows of three depths and its nu from the
class curves' widths over every range of depths."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
tables = stage.population_tables([io.read_table(f) for f in inp.replicas],
                                 [io.read_table(f) for f in inp.widths])
config = jobs.job_config(snakemake.params)
for table, name in zip(tables, ("population", "extrapolation", "windows", "widths")):
    io.write_table(table, out[name], out[f"{name}_csv"], config=config)
