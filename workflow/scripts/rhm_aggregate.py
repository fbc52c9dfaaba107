"""Stage 4 of the RHM branch: all shards of one experiment into one tidy kept table."""
from hierphase import io, jobs, pipeline_rhm

jobs.log_to(snakemake.log[0])
table = pipeline_rhm.aggregate_kept(io.read_table(path) for path in snakemake.input.shards)
io.write_table(table, snakemake.output.table, snakemake.output.csv,
               config={"experiment": snakemake.wildcards.experiment, "shards": list(snakemake.input.shards)})
