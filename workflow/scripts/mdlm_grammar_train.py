"""MDLM branch: one MDLM trained on the first P training sentences of the grammar; model and loss
table. An interrupted job resumes from <model>.resume when rerun unchanged."""
from hierphase import io, jobs
from hierphase.stages import mdlm as stage

device = jobs.start_device_job(snakemake, "mdlm")
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
stage.train_grammar_model(io.load_tensors(snakemake.input.data), P=int(wc.P), network=p.network,
                          training=p.training, seed=p.seed, model_path=out.model,
                          loss_parquet=out.loss, loss_csv=out.loss_csv, device=device,
                          config=jobs.job_config(wc, p))
