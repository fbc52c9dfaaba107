# The numbers the docs quote, rendered from the tables (hierphase.stages.docs): each page of
# workflow/templates/docs/ filled with this run's numbers under results/docs/, with the numbers as JSON.
# The default run's copies are committed as docs/<page>.md and docs/numbers.json
# (docs/README.md says how to refresh them).
from hierphase.plan.docs import (
    TEMPLATES,
    docs_outputs,
    docs_tables,
    docs_targets,
    docs_templates,
)


rule docs:
    """Target: the docs' pages filled from this run's tables (`snakemake docs`)."""
    input:
        docs_targets(),
    localrule: True


rule docs_results:
    input:
        **docs_tables(PLAN),
        **docs_templates(),
    output:
        **docs_outputs(),
        numbers_meta=sidecar(docs_outputs()["numbers"]),
    log:
        "logs/docs/docs_results.log",
    localrule: True
    conda:
        "../../envs/docs.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        pages=list(TEMPLATES),
        # which run the numbers are of (recorded in the numbers' sidecar)
        config=PLAN.config,
    script:
        "../scripts/docs_results.py"
