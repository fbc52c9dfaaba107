"""Learned branch: change correlations of one trained model (n_traj forward-backward runs per x0)."""
from hierphase import io, jobs, rhm
from hierphase.stages import learned as stage

device = jobs.start_device_job(snakemake, "learned")
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
correlations, susceptibility = stage.evaluate_correlations(
    rhm.load_rules(snakemake.input.rules), snakemake.input.model, p.grid, p.n_x0, p.n_traj,
    n_boot=p.n_boot, sample_steps=p.sample_steps, seed=p.seed, experiment=wc.experiment,
    P=int(wc.P), train_seed=int(wc.train_seed), rule_seed=p.rule_seed, batch_size=p.batch_size,
    device=device)
config = jobs.job_config(wc, p)
io.write_table(correlations, out.correlations, config=config, seed=p.seed)
io.write_table(susceptibility, out.susceptibility, config=config, seed=p.seed)
