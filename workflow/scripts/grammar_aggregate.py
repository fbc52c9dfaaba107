"""Grammar branch: every shard of one experiment pooled into its four tables."""
from hierphase import io, jobs
from hierphase.stages import grammar as stage

jobs.log_to(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
names = ("kept", "correlations", "susceptibility", "cochange")
tables = stage.aggregate_shards(
    {name: [io.read_table(path, f"grammar_{name}") for path in inp[name]] for name in names})
for name, table in tables.items():
    io.write_table(table, out[name], out[f"{name}_csv"], table=f"grammar_{name}",
                   config=jobs.job_config(snakemake.wildcards, {"shards": len(inp[name])}))
