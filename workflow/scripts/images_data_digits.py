"""Images branch, sweep shards (digits): the first n_per_class held-out images of every class, as
the sweep's uint8 shards."""
from hierphase.images.digits_data import write_sweep_shards
from hierphase.jobs import job_config, log_to

log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
write_sweep_shards(snakemake.input.held_out, out.shards, n_per_class=p.n_per_class,
                   image_size=p.image_size, upsample=p.upsample,
                   held_out_fraction=p.held_out_fraction, seed=p.seed, config=job_config(p))
