"""Images branch: n_traj forward-backward runs of the images of one correlation shard at one
respaced step k -> per-image pair sums of the patch changes in every embedding."""
from hierphase.images.embeddings import build_embeddings, specs_from_config
from hierphase.images.shards import read_shard
from hierphase.io import write_table
from hierphase.jobs import check_gpus, job_config, limit_threads, log_to
from hierphase.stages.images import correlation_images, correlation_shard, load_sweep_model

log_to(snakemake.log[0])
check_gpus(snakemake.resources, snakemake.rule)
limit_threads(snakemake.threads)
device = snakemake.config["images"]["device"]  # where it runs, not a param: reruns nothing
p, k = snakemake.params, int(snakemake.wildcards.k)
start, stop = p.bounds
clean = correlation_images([read_shard(path) for path in snakemake.input.shards], p.first,
                           start, stop)
model = load_sweep_model(k, p.kind, snakemake.input.model, device=device, dtype=p.dtype,
                         flags=p.adm_flags)
embeddings = build_embeddings(specs_from_config(p.embeddings, p.image_size),
                              classifier=p.classifier,
                              classifier_weights=snakemake.input.get("classifier"),
                              device=device, batch_size=p.batch_size)
table = correlation_shard(model, embeddings, clean, k, n_traj=p.n_traj,
                          num_steps=p.respaced_steps, seed=p.seed, batch_size=p.batch_size)
write_table(table, snakemake.output.table, seed=p.seed,
            config=job_config(snakemake.wildcards, {"model": str(snakemake.input.model),
                                                    "n_traj": p.n_traj,
                                                    "embeddings": p.embeddings}))
