"""MDLM branch: forward-backward by masking on the grammar's test sentences at every level, with
one denoiser (an MDLM, or the grammar's exact posterior): kept, correlation and chi tables."""
from hierphase import io, jobs
from hierphase.stages import mdlm as stage

device = jobs.start_device_job(snakemake, "mdlm")
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
tables = stage.grammar_sweep(
    io.load_tensors(snakemake.input.data), p.levels, model_path=snakemake.input.get("model"),
    P=p.P, seed=p.seed, steps=p.sampler["steps"], batch_size=p.sampler["batch_size"],
    device=device, **p.correlations)
config = jobs.job_config(wc, p)
for name, table in tables.items():
    io.write_table(table, out[name], config=config, seed=p.seed, table=f"mdlm_grammar_{name}")
