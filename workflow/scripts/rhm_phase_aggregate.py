"""Phase diagram, stage 2: the sweeps of every point into one table."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
table = stage.aggregate_phase_sweeps(io.read_table(path, "phase_kept") for path in snakemake.input.sweeps)
io.write_table(table, snakemake.output.table, snakemake.output.csv,
               config=jobs.job_config({"sweeps": list(snakemake.input.sweeps)}))
