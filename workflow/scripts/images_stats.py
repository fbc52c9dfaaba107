"""Images branch: per-layer, per-channel feature statistics of the classifier on the clean images."""
from hierphase import io, jobs
from hierphase.stages import images as stage

device = jobs.start_device_job(snakemake, "images")
p = snakemake.params
stats, n_images = stage.classifier_statistics(p.classifier, snakemake.input.classifier,
                                              snakemake.input.shards, batch_size=p.batch_size,
                                              device=device)
io.save_tensors(snakemake.output.stats, stats, config=jobs.job_config({"classifier": p.classifier}),
                n_images=n_images)
