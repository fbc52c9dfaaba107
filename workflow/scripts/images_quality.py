"""Images branch (digits): classifier held-out accuracy and the DDPM's confident-sample fraction."""
from hierphase.images.classifiers import build_classifier
from hierphase.stages.images import (held_out_accuracy, load_diffusion_model, quality_table,
                                     sample_confidence, unconditional_samples)
from hierphase.images.shards import read_shard
from hierphase.io import save_tensors, write_table
from hierphase.jobs import check_gpus, job_config, limit_threads, log_to

log_to(snakemake.log[0])
check_gpus(snakemake.resources, snakemake.rule)
limit_threads(snakemake.threads)
device = snakemake.config["images"]["device"]  # where it runs, not a param: reruns nothing
p, q, out = snakemake.params, snakemake.params.quality, snakemake.output
clf = build_classifier(p.classifier, snakemake.input.classifier, device=device)
model = load_diffusion_model(p.kind, snakemake.input.model, device=device, dtype=p.dtype,
                             flags=p.adm_flags)
held = read_shard(snakemake.input.held_out)
accuracy = held_out_accuracy(clf, held)
samples = unconditional_samples(model, q["n_samples"], num_steps=p.respaced_steps, seed=p.seed,
                                batch_size=p.batch_size)
confidence = sample_confidence(clf, samples)
save_tensors(out.samples, {"images": samples, "confidence": confidence}, seed=p.seed)
table = quality_table(accuracy=accuracy, n_held_out=len(held["labels"]), confidences=confidence.numpy(),
                      confidence=q["confidence"], min_accuracy=q["min_accuracy"],
                      min_confident_fraction=q["min_confident_fraction"], dataset=p.dataset,
                      model=p.model, classifier=p.classifier)
write_table(table, out.table, out.csv, config=job_config(q), seed=p.seed)
