"""Images branch, data (ImageNet): select n images per class of ILSVRC2012 val, crop, uint8 shards."""
from hierphase import jobs
from hierphase.stages import images as stage

jobs.log_to(snakemake.log[0])
p, i = snakemake.params, snakemake.input
stage.imagenet_data(i.val_dir, i.labels or None, snakemake.output.shards, n_per_class=p.n_per_class,
                    size=p.image_size, seed=p.seed, n_classes=p.n_classes,
                    config=jobs.job_config(p, {"val_dir": i.val_dir, "labels": i.labels or None}))
