"""Images branch: n_traj forward-backward runs of the images of one correlation shard at one
respaced step k -> per-image pair sums of the patch changes in every embedding."""
from hierphase import io, jobs
from hierphase.stages import images as stage

device = jobs.start_device_job(snakemake, "images")
p, k, i = snakemake.params, int(snakemake.wildcards.k), snakemake.input
table = stage.correlation_sweep(k, p.kind, i.model, i.shards, first=p.first, bounds=p.bounds,
                                embeddings=p.embeddings, image_size=p.image_size,
                                classifier=p.classifier, classifier_weights=i.get("classifier"),
                                n_traj=p.n_traj, num_steps=p.respaced_steps, seed=p.seed,
                                batch_size=p.batch_size, dtype=p.dtype, flags=p.adm_flags,
                                device=device)
io.write_table(table, snakemake.output.table, seed=p.seed,
               config=jobs.job_config(snakemake.wildcards, {"model": str(i.model), "n_traj": p.n_traj,
                                                            "embeddings": p.embeddings}))
