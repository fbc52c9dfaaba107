"""Images branch: per-shard measurements -> class_kept and layer_similarity tables."""
from hierphase.stages.images import aggregate
from hierphase.io import read_table, write_table
from hierphase.jobs import job_config, log_to

log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
kept, sim = aggregate([read_table(path, "measure") for path in snakemake.input.shards], dataset=p.dataset,
                      model=p.model, classifier=p.classifier)
ident = job_config(p)
write_table(kept, out.class_kept, out.class_kept_csv, config=ident)
write_table(sim, out.layer_similarity, out.layer_similarity_csv, config=ident)
