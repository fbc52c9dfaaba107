"""Images branch: class kept and per-layer similarity of one swept shard against its clean images."""
from hierphase.images.classifiers import build_classifier
from hierphase.stages.images import measure_shard, read_sweep
from hierphase.images.shards import read_shard
from hierphase.io import load_tensors, write_table
from hierphase.jobs import check_gpus, job_config, limit_threads, log_to

log_to(snakemake.log[0])
check_gpus(snakemake.resources, snakemake.rule)
limit_threads(snakemake.threads)
device = snakemake.config["images"]["device"]  # where it runs, not a param: reruns nothing
p = snakemake.params
clf = build_classifier(p.classifier, snakemake.input.classifier, device=device)
swept, record = read_sweep(snakemake.input.sweep)
table = measure_shard(clf, read_shard(snakemake.input.shard), swept, record,
                      load_tensors(snakemake.input.stats), batch_size=p.batch_size)
write_table(table, snakemake.output.table, config=job_config({"classifier": p.classifier}, record))
