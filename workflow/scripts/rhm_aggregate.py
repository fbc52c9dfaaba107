"""Stage 4 of the RHM branch: all shards of one experiment into one tidy kept table."""
from hierphase.stages import rhm as stage
from hierphase import io, jobs

jobs.log_to(snakemake.log[0])
table = stage.aggregate_kept(io.read_table(path, "kept") for path in snakemake.input.shards)
io.write_table(table, snakemake.output.table, snakemake.output.csv,
               config=jobs.job_config(snakemake.wildcards, {"shards": list(snakemake.input.shards)}))
