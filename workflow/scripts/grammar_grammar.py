"""Grammar branch: the experiment's grammar, from its source (random ensemble, RHM, or file)."""
from hierphase import io, jobs
from hierphase.stages import grammar as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc = snakemake.params, snakemake.wildcards
settings = p.settings or {}
tensors, info = stage.draw_grammar(
    p.source, random=settings if p.source == "random" else None,
    rhm=settings if p.source == "rhm" else None, path=snakemake.input.get("file"),
    lengths=p.lengths, seed=p.seed)
io.save_tensors(snakemake.output.grammar, tensors, config=jobs.job_config(wc, p), seed=p.seed,
                grammar=info)
