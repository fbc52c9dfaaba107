"""Images branch (digits): classifier held-out accuracy and the DDPM's confident-sample fraction."""
from hierphase import io, jobs
from hierphase.stages import images as stage

device = jobs.start_device_job(snakemake, "images")
p, i, out = snakemake.params, snakemake.input, snakemake.output
samples, table = stage.quality(p.classifier, i.classifier, p.kind, i.model, i.held_out, p.quality,
                               num_steps=p.respaced_steps, seed=p.seed, batch_size=p.batch_size,
                               dtype=p.dtype, flags=p.adm_flags, dataset=p.dataset, model=p.model,
                               device=device)
io.save_tensors(out.samples, samples, seed=p.seed)
io.write_table(table, out.table, out.csv, config=jobs.job_config(p.quality), seed=p.seed)
