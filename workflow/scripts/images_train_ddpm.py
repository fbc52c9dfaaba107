"""Images branch (digits): train the DDPM (diffusers UNet2DModel) on the training split; an
interrupted job resumes from <model>.resume when rerun."""
from hierphase import io, jobs
from hierphase.stages import images as stage

device = jobs.start_device_job(snakemake, "images")
p, out = snakemake.params, snakemake.output
loss = stage.train_ddpm(snakemake.input.train, out.model, p.train, seed=p.seed, device=device,
                        checkpoint=f"{out.model}.resume")
io.write_table(loss, out.loss, out.loss_csv, config=jobs.job_config(p.train), seed=p.seed)
