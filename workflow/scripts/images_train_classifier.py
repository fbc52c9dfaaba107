"""Images branch (digits): train the digits_cnn classifier; held-out accuracy per epoch. An
interrupted job resumes from <weights>.resume when rerun."""
from hierphase import io, jobs
from hierphase.stages import images as stage

jobs.log_to(snakemake.log[0])
jobs.check_gpus(snakemake.resources, snakemake.rule)
jobs.limit_threads(snakemake.threads)
device = snakemake.config["images"]["device"]  # where it runs, not a param: reruns nothing
p, out = snakemake.params, snakemake.output
state, history = stage.train_classifier(snakemake.input.train, snakemake.input.held_out, p.train,
                                        seed=p.seed, device=device,
                                        checkpoint=f"{out.weights}.resume")
config = jobs.job_config(p.train)
io.save_tensors(out.weights, state, config=config, seed=p.seed,
                held_out_accuracy=float(history["held_out_accuracy"].iloc[-1]))
io.write_table(history, out.history, out.history_csv, config=config, seed=p.seed)
