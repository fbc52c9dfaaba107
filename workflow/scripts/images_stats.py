"""Images branch: per-layer, per-channel feature statistics of the classifier on the clean images."""
import torch

from hierphase.images.classifiers import build_classifier, feature_statistics
from hierphase.images.shards import read_shard
from hierphase.io import save_tensors
from hierphase.jobs import check_gpus, job_config, limit_threads, log_to

log_to(snakemake.log[0])
check_gpus(snakemake.resources, snakemake.rule)
limit_threads(snakemake.threads)
device = snakemake.config["images"]["device"]  # where it runs, not a param: reruns nothing
p = snakemake.params
clf = build_classifier(p.classifier, snakemake.input.classifier, device=device)
images = torch.cat([read_shard(path)["images"] for path in snakemake.input.shards])
stats = feature_statistics(clf, images, batch_size=p.batch_size)
save_tensors(snakemake.output.stats, {**stats, "layers": clf.layer_names},
             config=job_config({"classifier": p.classifier}), n_images=images.shape[0])
