"""MDLM branch: the text protocols pooled, with where chi peaks and how far xi grows per model."""
from hierphase import io, jobs
from hierphase.stages import mdlm as stage

jobs.log_to(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
names = ("curves", "chi")
tables = stage.text_aggregate(
    {name: [io.read_table(path, f"mdlm_text_{name}") for path in inp[name]] for name in names})
config = jobs.job_config(snakemake.wildcards, {"protocols": len(inp["chi"])})
for name, table in tables.items():
    io.write_table(table, out[name], out[f"{name}_csv"], table=f"mdlm_text_{name}",
                   config=config)
