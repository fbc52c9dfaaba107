"""Images branch: forward-backward of one image shard at one respaced step k."""
from hierphase.stages.images import load_sweep_model, sweep_shard, write_sweep
from hierphase.images.shards import read_shard
from hierphase.jobs import check_gpus, job_config, limit_threads, log_to

log_to(snakemake.log[0])
check_gpus(snakemake.resources, snakemake.rule)
limit_threads(snakemake.threads)
device = snakemake.config["images"]["device"]  # where it runs, not a param: reruns nothing
p, k = snakemake.params, int(snakemake.wildcards.k)
model = load_sweep_model(k, p.kind, snakemake.input.model, device=device, dtype=p.dtype,
                         flags=p.adm_flags)
clean = read_shard(snakemake.input.shard)
x0_hat, record = sweep_shard(model, clean, k, num_steps=p.respaced_steps, seed=p.seed,
                             batch_size=p.batch_size)
write_sweep(snakemake.output.sweep, x0_hat, clean, record, seed=p.seed,
            config=job_config({"k": k, "respaced_steps": p.respaced_steps,
                               "model": str(snakemake.input.model)}))
