"""The docs' pages filled with the numbers of this run's tables (hierphase.stages.docs)."""
from hierphase.jobs import log_to
from hierphase.stages.docs import DOCS_TABLES, render_docs

log_to(snakemake.log[0])
inp, out, pages = snakemake.input, snakemake.output, snakemake.params.pages
render_docs({name: inp[name] for name in DOCS_TABLES},
            {page: inp[f"template_{page}"] for page in pages},
            {page: out[page] for page in pages}, out.numbers, config=snakemake.params.config)
