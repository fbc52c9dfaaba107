"""Grammar branch: sentences of each length with their parse trees, exactly from the grammar."""
from hierphase import io, jobs
from hierphase.stages import grammar as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc = snakemake.params, snakemake.wildcards
sentences = stage.draw_sentences(io.load_tensors(snakemake.input.grammar), p.lengths,
                                 p.n_sentences, seed=p.seed)
io.save_tensors(snakemake.output.sentences, sentences, config=jobs.job_config(wc, p), seed=p.seed)
