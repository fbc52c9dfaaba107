"""Phase diagram, stage 3: per (v, m, s) mean field's eps* and exact BP's half point, extrapolation
and transition."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
table = stage.phase_diagram_table(io.read_table(snakemake.input.kept))
io.write_table(table, snakemake.output.table, snakemake.output.csv,
               config=jobs.job_config({"kept": snakemake.input.kept}))
