"""Images branch (digits): train the digits_cnn classifier; held-out accuracy per epoch. An
interrupted job resumes from <weights>.resume when rerun."""
from hierphase import io, jobs
from hierphase.stages import images as stage

device = jobs.start_device_job(snakemake, "images")
p, out = snakemake.params, snakemake.output
state, history = stage.train_classifier(snakemake.input.train, snakemake.input.held_out, p.train,
                                        seed=p.seed, device=device,
                                        checkpoint=f"{out.weights}.resume")
config = jobs.job_config(p.train)
io.save_tensors(out.weights, state, config=config, seed=p.seed,
                held_out_accuracy=float(history["held_out_accuracy"].iloc[-1]))
io.write_table(history, out.history, out.history_csv, config=config, seed=p.seed)
