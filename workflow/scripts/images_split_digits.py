"""Images branch, training split (digits): the DDPM's and the classifier's training set, and the
held-out set the sweep shards are cut from."""
from hierphase.jobs import job_config, log_to
from hierphase.stages import images as stage

log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
stage.digits_split(out.train, out.held_out, image_size=p.image_size, upsample=p.upsample,
                   held_out_fraction=p.held_out_fraction, seed=p.seed, config=job_config(p))
