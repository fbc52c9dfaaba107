"""MDLM branch: the protocol for a published MDLM checkpoint (local path) on passages in its own
tokenizer: C(r) and chi tables."""
from hierphase import io, jobs
from hierphase.stages import mdlm as stage

device = jobs.start_device_job(snakemake, "mdlm")
p, wc, out, inp = snakemake.params, snakemake.wildcards, snakemake.output, snakemake.input
pub = p.published
tables = stage.published_protocol(
    inp.checkpoint, inp.tokenizer, inp.get("corpus"), p.levels, n_passages=pub["n_passages"],
    length=pub["length"], n_maskings=p.n_maskings, cutoffs=p.cutoffs, n_boot=p.n_boot,
    seed=p.seed, n_heads=pub["n_heads"], use_ema=pub["use_ema"], steps=p.sampler["steps"],
    batch_size=p.sampler["batch_size"], device=device)
config = jobs.job_config(wc, p)
for name, table in tables.items():
    io.write_table(table, out[name], config=config, seed=p.seed, table=f"mdlm_text_{name}")
