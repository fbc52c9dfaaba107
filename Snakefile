# hierphase: forward-backward diffusion on hierarchical data, from rules to figures.
# The table of contents; every stage lives in workflow/rules/, every computation in src/hierphase/,
# the planning (config checks, targets, seeds, figure tables) in src/hierphase/plan/.
from snakemake.utils import min_version

from hierphase.plan.workflow import check_plain_config_files

min_version("9.0")


# config.yaml is plain data: refused before the configfile directive reads (and would evaluate)
# a YTE template or an object tag in it (docs/security.md)
check_plain_config_files(["config.yaml"])


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# one rule file per branch of workflow/branches.yaml
for _branch in PLAN.branches:

    include: f"workflow/rules/{_branch}.smk"


# the docs' numbers, rendered from the branches' tables
include: "workflow/rules/docs.smk"


check_rule_paths(workflow, PLAN)


rule all:
    """Every enabled branch (one branch alone: `snakemake <branch>`)."""
    default_target: True
    input:
        PLAN.targets(),
    localrule: True
