"""Images branch, data (ImageNet): select n images per class of ILSVRC2012 val, crop, uint8 shards."""
from hierphase.images.imagenet import prepare_imagenet
from hierphase.jobs import log_to

log_to(snakemake.log[0])
p, inet = snakemake.params, snakemake.params.data["imagenet"]
prepare_imagenet(inet["val_dir"], inet["labels"], snakemake.output.shards, n_per_class=p.n_per_class,
                 size=p.data["image_size"], seed=p.seed, n_classes=inet["n_classes"],
                 config=dict(p.data, n_per_class=p.n_per_class))
