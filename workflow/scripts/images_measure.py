"""Images branch: class kept and per-layer similarity of one swept shard against its clean images."""
from hierphase import io, jobs
from hierphase.stages import images as stage

device = jobs.start_device_job(snakemake, "images")
p, i = snakemake.params, snakemake.input
table, record = stage.measure_sweep(p.classifier, i.classifier, i.shard, i.sweep, i.stats,
                                    batch_size=p.batch_size, device=device)
io.write_table(table, snakemake.output.table,
               config=jobs.job_config({"classifier": p.classifier}, record))
