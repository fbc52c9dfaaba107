"""Grammar branch: the phase diagram across the experiments' grammars (where the class
transition sharpens with the sentence length, each class curve read between its exact clean and
full-noise ends; the RHM's mean field where a grammar is an RHM)."""
from hierphase import io, jobs
from hierphase.stages import grammar as stage

jobs.log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
names = list(p.experiments)
table = stage.phase_diagram(
    {n: io.read_table(f, "grammar_kept") for n, f in zip(names, snakemake.input.kept)},
    {n: io.load_tensors(f) for n, f in zip(names, snakemake.input.grammars)},
    {n: io.load_tensors(f) for n, f in zip(names, snakemake.input.sentences)},
    p.sources, p.n_classes)
io.write_table(table, out.table, out.csv, config=jobs.job_config(snakemake.wildcards, p),
               table="grammar_phase")
