"""RHM change correlations: every shard, theory and control into the two tidy tables."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage
from hierphase.tables import CORRELATIONS_TABLE_COLUMNS, SUSCEPTIBILITY_TABLE_COLUMNS

jobs.log_to(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
for name, columns in (("correlations", CORRELATIONS_TABLE_COLUMNS),
                      ("susceptibility", SUSCEPTIBILITY_TABLE_COLUMNS)):
    paths = list(inp[name])
    table = stage.aggregate_correlations((io.read_table(path) for path in paths), columns)
    io.write_table(table, out[name], out[f"{name}_csv"], config=jobs.job_config({"inputs": paths}))
