"""Images branch, sweep shards (digits): the first n_per_class held-out images of every class, as
the sweep's uint8 shards."""
from hierphase.jobs import job_config, log_to
from hierphase.stages import images as stage

log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
stage.digits_data(snakemake.input.held_out, out.shards, image_size=p.image_size,
                  upsample=p.upsample, held_out_fraction=p.held_out_fraction,
                  n_per_class=p.n_per_class, seed=p.seed, config=job_config(p))
