"""RHM change correlations: chi peaks, exponents (also per tree level), the correlation lengths of
the collapse, and the hierarchy's signature beside the controls'."""
from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
p, inp, out = snakemake.params, snakemake.input, snakemake.output
exponents, lengths, levels, signature = stage.correlation_exponents(
    io.read_table(inp.correlations), io.read_table(inp.susceptibility), dict(p.critical),
    seed=p.seed, a_infinite=dict(p.a_infinite))
config = jobs.job_config({"critical": dict(p.critical), "a_infinite": dict(p.a_infinite)})
io.write_table(exponents, out.exponents, out.exponents_csv, config=config, seed=p.seed)
io.write_table(lengths, out.lengths, out.lengths_csv, config=config, seed=p.seed)
io.write_table(levels, out.level_exponents, out.level_exponents_csv, config=config, seed=p.seed)
io.write_table(signature, out.signature, out.signature_csv, config=config, seed=p.seed)
