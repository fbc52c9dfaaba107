"""Grammar branch: the finite-size table of the class curves (several lengths) and its fits."""
from hierphase import io, jobs
from hierphase.stages import grammar as stage

jobs.log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
points, fits = stage.finite_size(io.read_table(snakemake.input.kept, "grammar_kept"),
                                 n_classes=p.n_classes)
config = jobs.job_config(snakemake.wildcards, p)
io.write_table(points, out.finite_size, out.finite_size_csv, config=config,
               table="grammar_scaling_points")
io.write_table(fits, out.finite_size_fits, out.finite_size_fits_csv, config=config,
               table="grammar_scaling")
