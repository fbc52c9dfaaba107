"""Learned branch, stage 2: train one denoiser (experiment, process, P, seed); checkpoint + loss table.
An interrupted job resumes from <model>.resume when rerun with the same config."""
from hierphase import jobs, rhm
from hierphase.stages import learned as stage

jobs.log_to(snakemake.log[0])
jobs.limit_threads(snakemake.threads)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
stage.train_model(rhm.load_rules(snakemake.input.rules), p.cfg, p.root_seed, wc.experiment, wc.process, int(wc.P),
                       int(wc.train_seed), out.model, out.loss, out.loss_csv)
