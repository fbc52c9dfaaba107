"""Images branch: class kept and per-layer similarity of one swept shard against its clean images."""
from hierphase import io, jobs
from hierphase.stages import images as stage

jobs.log_to(snakemake.log[0])
jobs.check_gpus(snakemake.resources, snakemake.rule)
jobs.limit_threads(snakemake.threads)
device = snakemake.config["images"]["device"]  # where it runs, not a param: reruns nothing
p, i = snakemake.params, snakemake.input
table, record = stage.measure_sweep(p.classifier, i.classifier, i.shard, i.sweep, i.stats,
                                    batch_size=p.batch_size, device=device)
io.write_table(table, snakemake.output.table,
               config=jobs.job_config({"classifier": p.classifier}, record))
