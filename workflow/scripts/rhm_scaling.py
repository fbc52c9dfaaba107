"""Finite-size scaling of the class curve: the scaling table and its per-depth points."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
scaling, points = stage.finite_size_scaling(
    io.read_table(snakemake.input.kept), experiment=snakemake.wildcards.experiment, v=p.v, m=p.m,
    s=p.s, n_classes=p.n_classes, processes=list(p.processes), L_min=p.L_min, L_max=p.L_max)
config = jobs.job_config(snakemake.wildcards, p)
io.write_table(scaling, out.table, out.csv, config=config)
io.write_table(points, out.points, out.points_csv, config=config)
