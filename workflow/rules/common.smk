# What every branch shares: the plan (hierphase.plan: config checks, job counts, memory, targets,
# seeds and figure tables of every branch in workflow/branches.yaml), the wildcard constraints,
# the figure rules generated from the figure tables.
#
# The recipe every branch follows (docs/architecture.md):
# - src/hierphase/plan/<branch>.py: the branch's planning class (config checks, file patterns,
#   wildcard values, seeds, targets, figure table), listed in workflow/branches.yaml.
# - workflow/rules/<branch>.smk: the branch's rules, which read everything from PLAN["<branch>"],
#   and its target rule named after the branch (`snakemake -c2 <branch>`).
# - The same wildcard names for the same things in every branch (experiment, process, P, shard);
#   outputs under results/<branch>/, logs under logs/<branch>/; every output's JSON sidecar
#   declared with sidecar().
# - Seeds from the branch's seed() (config["seed"], branch, stage, the job's wildcards), handed
#   to the package as integers. Params: exactly the config keys that change a rule's outputs, as
#   plain values; the device (where a job runs) is read by the script from the config.
# - Rules that go to the cluster take mem_mb and runtime from per_attempt(); rules that may run on
#   a GPU take their `gpu` resource (and, with the profile's gpu_partition, their partition) from
#   gpu_resources(), and their scripts start with jobs.check_gpus().
# - workflow/scripts/<branch>_<rule>.py logs to its log, reads snakemake.input and params,
#   calls exactly one function of hierphase.stages.<branch> (the glue) and writes snakemake.output
#   with a sidecar from jobs.job_config. Every figure rule runs workflow/scripts/figure.py, which
#   calls hierphase.stages.figures.draw with the function its figure entry names (params.draw).
from hierphase.plan import per_attempt, sidecar
from hierphase.plan.workflow import (
    check_cluster_settings,
    check_rule_paths,
    drop_local_rate_limit,
    gpu_resources,
    plan_workflow,
    set_local_memory_limit,
)

PLAN = plan_workflow(workflow, config)
# The scripts read the checked config (defaults filled in): where their jobs run, for instance.
config.update(PLAN.config)
set_local_memory_limit(workflow)


# A real run (not a dry run) with a profile whose partition is still its placeholder stops here,
# before any job is submitted; a local run drops Snakemake's job rate limit (its wake-up timers
# pile up and take the jobs' CPU).
onstart:
    check_cluster_settings(workflow)
    drop_local_rate_limit(workflow)


wildcard_constraints:
    **PLAN.wildcard_constraints(),


for _fig in PLAN.figures():

    rule:
        name:
            _fig.rule
        input:
            **_fig.inputs,
        output:
            png=report(
                _fig.png,
                caption=f"../report/{_fig.caption}",
                category=_fig.category,
                subcategory=_fig.subcategory,
            ),
            pdf=_fig.pdf,
        log:
            _fig.log,
        localrule: True
        conda:
            _fig.conda
        threads: 1
        resources:
            mem_mb=_fig.mem_mb,
            runtime=_fig.runtime,
        params:
            **_fig.rule_params,
        script:
            "../scripts/figure.py"
