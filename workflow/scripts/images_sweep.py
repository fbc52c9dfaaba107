"""Images branch: forward-backward of one image shard at one respaced step k."""
from hierphase import jobs
from hierphase.stages import images as stage

device = jobs.start_device_job(snakemake, "images")
p, k = snakemake.params, int(snakemake.wildcards.k)
stage.sweep_file(k, p.kind, snakemake.input.model, snakemake.input.shard, snakemake.output.sweep,
                 num_steps=p.respaced_steps, seed=p.seed, batch_size=p.batch_size, dtype=p.dtype,
                 flags=p.adm_flags, device=device,
                 config=jobs.job_config({"k": k, "respaced_steps": p.respaced_steps,
                                         "model": str(snakemake.input.model)}))
