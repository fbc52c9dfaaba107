# hierphase: forward-backward diffusion on hierarchical data, from rules to figures.
# The table of contents; every stage lives in workflow/rules/, every computation in src/hierphase/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/rhm.smk"
include: "workflow/rules/learned.smk"
include: "workflow/rules/images.smk"


rule all:
    """Every enabled branch (one branch alone: `snakemake rhm`, `learned` or `images`)."""
    default_target: True
    input:
        final_targets(),
    localrule: True
