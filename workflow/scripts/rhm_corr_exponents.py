"""RHM change correlations: chi peaks, exponents and the correlation lengths of the collapse."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
p, inp, out = snakemake.params, snakemake.input, snakemake.output
exponents, lengths = stage.correlation_exponents(
    io.read_table(inp.correlations), io.read_table(inp.susceptibility), dict(p.critical), seed=p.seed)
config = jobs.job_config({"critical": dict(p.critical)})
io.write_table(exponents, out.exponents, out.exponents_csv, config=config, seed=p.seed)
io.write_table(lengths, out.lengths, out.lengths_csv, config=config, seed=p.seed)
