"""MDLM branch: the text experiment's data: a tokenizer trained on the corpus, training windows,
held-out passages and their shuffled copies."""
from hierphase import io, jobs
from hierphase.stages import mdlm as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
data, tokenizer = stage.text_data(snakemake.input.get("corpus"), **p.tokenizer,
                                  holdout=p.holdout, n_passages=p.n_passages, length=p.length,
                                  seed=p.seed)
with io.atomic_path(out.tokenizer) as tmp:
    tmp.write_text(tokenizer)
io.save_tensors(out.data, data, config=jobs.job_config(wc, p), seed=p.seed)
