"""The depth of held-out RHMs read off chi and the first levels of C at the peak, calibrated on
RHMs of known depth."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
p, inp, out = snakemake.params, snakemake.input, snakemake.output
estimates, calibration = stage.depth_estimate(
    io.read_table(inp.correlations), io.read_table(inp.susceptibility), experiment=p.experiment,
    calibration=dict(p.calibration), feature=p.feature, k_fit=p.k_fit)
config = jobs.job_config(p)
io.write_table(estimates, out.estimates, out.estimates_csv, config=config)
io.write_table(calibration, out.calibration, out.calibration_csv, config=config)
