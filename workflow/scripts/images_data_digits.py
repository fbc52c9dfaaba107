"""Images branch, data (digits): training split, held-out split and the sweep's uint8 shards."""
from hierphase.images.digits_data import prepare_digits
from hierphase.jobs import job_config, log_to

log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
prepare_digits(out.shards, out.train, out.held_out, image_size=p.image_size, upsample=p.upsample,
               held_out_fraction=p.held_out_fraction, n_per_class=p.n_per_class, seed=p.seed,
               config=job_config(p))
