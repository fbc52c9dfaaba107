"""Images branch: per-job pair sums -> patch_correlations and patch_susceptibility tables."""
from hierphase.io import read_table, write_table
from hierphase.jobs import job_config, log_to
from hierphase.stages.images import aggregate_patch_correlations

log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
corr, sus = aggregate_patch_correlations([read_table(path, "patch_pair_sums") for path in snakemake.input.shards],
                                         dataset=p.dataset, model=p.model,
                                         classifier=p.classifier, n_boot=p.n_boot, seed=p.seed,
                                         confidence=p.confidence)
ident = job_config(p)
write_table(corr, out.correlations, out.correlations_csv, config=ident, seed=p.seed)
write_table(sus, out.susceptibility, out.susceptibility_csv, config=ident, seed=p.seed)
