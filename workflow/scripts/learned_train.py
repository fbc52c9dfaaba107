"""Learned branch, stage 2: train one denoiser (experiment, process, P, training seed);
checkpoint + loss table + the weights at the learning curve's snapshot steps. An interrupted job
resumes from <model>.resume when rerun unchanged."""
from hierphase import jobs, rhm
from hierphase.learned.train import TrainConfig
from hierphase.noise import GaussianSchedule
from hierphase.stages import learned as stage

device = jobs.start_device_job(snakemake, "learned")
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
stage.train_model(rhm.load_rules(snakemake.input.rules), wc.process, GaussianSchedule(**p.schedule),
                  TrainConfig(**p.training), **p.network, experiment=wc.experiment, P=int(wc.P),
                  train_seed=int(wc.train_seed), data_seed=p.data_seed, seed=p.seed,
                  model_path=out.model, loss_parquet=out.loss, loss_csv=out.loss_csv,
                  device=device, snapshot_paths=dict(zip(p.snapshot_steps, out.snapshots)))
