"""Learned branch, stage 2: train one denoiser (experiment, process, P, seed); checkpoint + loss table.
An interrupted job resumes from <model>.resume when rerun with the same config."""
from hierphase import pipeline_rhm, rhm
from hierphase.learned import experiment

pipeline_rhm.log_to(snakemake.log[0])
pipeline_rhm.limit_threads(snakemake.threads)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
experiment.train_model(rhm.load_rules(snakemake.input.rules), p.cfg, p.root_seed, wc.lexp, wc.lproc, int(wc.P),
                       int(wc.tseed), out.model, out.loss, out.loss_csv)
