"""MDLM branch: the follow-up's change-correlation protocol on the held-out passages for one
denoiser (the MDLM, the MDLM on shuffled passages, the n-gram control): C(r) and chi tables."""
from hierphase import io, jobs
from hierphase.stages import mdlm as stage

device = jobs.start_device_job(snakemake, "mdlm")
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
tables = stage.text_protocol(
    wc.textmodel, io.load_tensors(snakemake.input.data), p.levels, n_maskings=p.n_maskings,
    cutoffs=p.cutoffs, n_boot=p.n_boot, seed=p.seed, model_path=snakemake.input.get("model"),
    ngram=p.ngram, steps=p.sampler["steps"], batch_size=p.sampler["batch_size"], device=device)
config = jobs.job_config(wc, p)
for name, table in tables.items():
    io.write_table(table, out[name], config=config, seed=p.seed, table=f"mdlm_text_{name}")
