"""Images branch (digits): train the digits_cnn classifier; held-out accuracy per epoch. An
interrupted job resumes from <weights>.resume when rerun."""
from hierphase.images.digits_cnn import ClassifierTrainConfig, train_digits_classifier
from hierphase.images.shards import read_shard
from hierphase.io import save_tensors, write_table
from hierphase.jobs import check_gpus, job_config, limit_threads, log_to

log_to(snakemake.log[0])
check_gpus(snakemake.resources, snakemake.rule)
limit_threads(snakemake.threads)
device = snakemake.config["images"]["device"]  # where it runs, not a param: reruns nothing
p, out = snakemake.params, snakemake.output
state, history = train_digits_classifier(read_shard(snakemake.input.train), read_shard(snakemake.input.held_out),
                                         ClassifierTrainConfig(**p.train), seed=p.seed, device=device,
                                         checkpoint=f"{out.weights}.resume")
save_tensors(out.weights, state, config=job_config(p.train), seed=p.seed,
             held_out_accuracy=float(history["held_out_accuracy"].iloc[-1]))
write_table(history, out.history, out.history_csv, config=job_config(p.train), seed=p.seed)
