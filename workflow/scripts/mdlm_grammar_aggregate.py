"""MDLM branch: the grammar sweeps pooled, and every MDLM's gap to the exact posterior."""
from hierphase import io, jobs
from hierphase.stages import mdlm as stage

jobs.log_to(snakemake.log[0])
inp, out, p = snakemake.input, snakemake.output, snakemake.params
names = ("kept", "correlations", "susceptibility")
tables = stage.grammar_aggregate(
    {name: [io.read_table(path, f"mdlm_grammar_{name}") for path in inp[name]] for name in names},
    **p.acceptance)
config = jobs.job_config(snakemake.wildcards, p, {"sweeps": len(inp["kept"])})
for name, table in tables.items():
    io.write_table(table, out[name], out[f"{name}_csv"], table=f"mdlm_grammar_{name}",
                   config=config)
