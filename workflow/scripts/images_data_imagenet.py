"""Images branch, data (ImageNet): select n images per class of ILSVRC2012 val, crop, uint8 shards."""
from hierphase.images.imagenet import prepare_imagenet
from hierphase.jobs import job_config, log_to

log_to(snakemake.log[0])
p, i = snakemake.params, snakemake.input
prepare_imagenet(i.val_dir, i.labels or None, snakemake.output.shards, n_per_class=p.n_per_class,
                 size=p.image_size, seed=p.seed, n_classes=p.n_classes,
                 config=job_config(p, {"val_dir": i.val_dir, "labels": i.labels or None}))
