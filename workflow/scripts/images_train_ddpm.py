"""Images branch (digits): train the DDPM (diffusers UNet2DModel) on the training split; an
interrupted job resumes from <model>.resume when rerun."""
from hierphase.images.ddpm_training import DDPMTrainConfig, train_digits_ddpm
from hierphase.images.shards import read_shard
from hierphase.io import write_table
from hierphase.jobs import check_gpus, job_config, limit_threads, log_to

log_to(snakemake.log[0])
check_gpus(snakemake.resources, snakemake.rule)
limit_threads(snakemake.threads)
device = snakemake.config["images"]["device"]  # where it runs, not a param: reruns nothing
p = snakemake.params
cfg = DDPMTrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in p.train.items()})
loss = train_digits_ddpm(read_shard(snakemake.input.train)["images"], snakemake.output.model, cfg,
                         seed=p.seed, device=device, checkpoint=f"{snakemake.output.model}.resume")
write_table(loss, snakemake.output.loss, snakemake.output.loss_csv, config=job_config(p.train), seed=p.seed)
