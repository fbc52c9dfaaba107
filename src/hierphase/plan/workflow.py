"""The planner's few points of contact with a running Snakemake: the config files it merged,
whether the jobs run on this machine, the local memory limit, the rules' paths, the profile's
cluster settings (the GPU partition of the GPU rules, placeholders refused). Each function
takes Snakemake's ``workflow`` object; the rest of :mod:`hierphase.plan` never sees it."""

from __future__ import annotations

import os

from .config import Plan, load_plan

__all__ = ["check_plain_config_files", "plan_workflow", "jobs_run_here", "set_local_memory_limit",
           "drop_local_rate_limit",
           "check_rule_paths", "check_links_inside", "default_resource", "gpu_resources",
           "check_cluster_settings", "GPU_PARTITION", "PLACEHOLDER", "CLUSTER_SETTINGS"]

#: The default resource (profile key ``default-resources``) naming the SLURM partition of every job
#: that asks for a GPU; where it is not set, GPU jobs go to ``slurm_partition`` like the others.
GPU_PARTITION = "gpu_partition"
#: How a value left for the user to fill in begins (``your-partition``, ``your-account``).
PLACEHOLDER = "your-"
#: The default resources that name something of the cluster: left at a placeholder, they are
#: refused before anything is submitted.
CLUSTER_SETTINGS = ("slurm_partition", GPU_PARTITION, "slurm_account")


def config_files(workflow) -> list:
    """The config files Snakemake merged, in merge order."""
    settings = workflow.config_settings
    cli_files = list(settings.configfiles)
    own_files = [f for f in workflow.configfiles if f not in cli_files]
    return cli_files if settings.replace_workflow_config else own_files + cli_files


def check_plain_config_files(paths: list) -> None:
    """Refuse, as a WorkflowError naming the file, any of the config files ``paths`` that is more
    than plain data (:func:`hierphase.io.read_yaml_strict`). Called in the Snakefile before its
    ``configfile`` directive, which would evaluate a YTE template; the ``--configfile`` files
    were read while Snakemake parsed its command line (``workflow/with-env.sh`` checks those
    first, and :func:`load_plan` again)."""
    from snakemake.exceptions import WorkflowError

    from .checks import ConfigError
    from .config import read_yaml_file

    for path in paths:
        if os.path.exists(path):
            try:
                read_yaml_file(path)
            except ConfigError as e:
                raise WorkflowError(f"Invalid config file {path}: {e.message}") from None


def jobs_run_here(workflow) -> bool:
    """True when this Snakemake runs the jobs on this machine. The executor is not known while
    the Snakefile is read, but its trace is: Snakemake turns --jobs into a node count only for
    cluster and cloud executors (a profile such as workflow/profiles/slurm sets jobs), and a job
    already sent to a node reads the Snakefile again in another mode."""
    return workflow.resource_settings.nodes is None and workflow.is_main_process


def plan_workflow(workflow, config: dict) -> Plan:
    """The plan of the config Snakemake merged; a refusal becomes a WorkflowError (Snakemake then
    stops before any job, printing the message alone)."""
    from snakemake.exceptions import WorkflowError

    from .checks import ConfigError

    try:
        return load_plan(config, root=workflow.basedir, files=config_files(workflow),
                         overrides=workflow.config_settings.config,
                         jobs_run_here=jobs_run_here(workflow))
    except ConfigError as e:
        raise WorkflowError(str(e)) from None


def default_resource(workflow, name: str) -> str | None:
    """The value the profile's ``default-resources`` (or ``--default-resources``) give ``name``,
    as the job would see it (a quoted string unquoted), or None where not set."""
    import ast

    given = workflow.resource_settings.default_resources
    if given is None or name not in given:
        return None
    raw = getattr(given[name], "raw", None)
    if not isinstance(raw, str):
        return None if raw is None else str(raw)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw
    return value if isinstance(value, str) else raw


def gpu_resources(workflow, gpus: int) -> dict:
    """The resources that tag a rule by the kind of machine it runs on: ``gpu`` (the GPUs it asks
    for, sent by the SLURM plugin as ``--gpus``) and, for a rule that asks for one, the GPU
    partition when the profile names one (``default-resources: gpu_partition``), so that one
    setting sends every GPU rule there. ``--set-resources RULE:slurm_partition=...`` still wins."""
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise ValueError(f"gpus must be a non-negative integer, got {gpus!r}")
    resources = {"gpu": gpus}
    partition = default_resource(workflow, GPU_PARTITION)
    if gpus and partition:
        resources["slurm_partition"] = partition
    return resources


def check_cluster_settings(workflow) -> None:
    """Refuse to start a run (not a dry run: Snakemake runs this ``onstart``, before any job) while
    a cluster setting of the profile still holds its placeholder (``your-partition``): a
    WorkflowError naming the setting and how to fill it in."""
    from snakemake.exceptions import WorkflowError

    for name in CLUSTER_SETTINGS:
        value = default_resource(workflow, name)
        if value is not None and value.startswith(PLACEHOLDER):
            raise WorkflowError(
                f"default-resources: {name} is still the placeholder {value!r}, so nothing was "
                f"submitted. Set it in the profile's default-resources "
                f"(workflow/profiles/slurm/config.yaml; `sinfo -s` lists the partitions, "
                f"`sacctmgr show associations user=$USER` your accounts), or comment it out.")


def set_local_memory_limit(workflow) -> None:
    """Runs whose jobs run here: the machine's memory, or the user's ``--resources mem_mb=N``,
    becomes the global memory limit, so a job that declares more is refused before it starts
    instead of dying in an allocation, and jobs side by side never declare more than that."""
    from snakemake.resources import Resource, Resources

    if not jobs_run_here(workflow):
        return
    sizes = ("mem", "mem_mb", "mem_mib")
    given = [workflow.global_resources[k] for k in sizes if k in workflow.global_resources]
    if given:
        mb = given[0].standardize_size().value
    else:
        mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 10**6
    # Snakemake (9.27) compares the jobs' mem_mb with a global resource keyed "mem" only, and
    # files --resources mem_mb=N under "mem_mb", where it limits nothing: refile it.
    others = {k: v for k, v in workflow.global_resources.items() if k not in sizes}
    workflow.global_resources = Resources(others)
    workflow.global_resources["mem"] = Resource("mem_mb", mb).standardize_size()


def drop_local_rate_limit(workflow) -> None:
    """Runs whose jobs run here: no job rate limit (``--max-jobs-per-timespan``). With a limit,
    Snakemake's scheduler starts a timer to wake itself at the end of the timespan after every
    round in which jobs wait, and each wake-up is such a round: the timers add up, one more chain
    with every finished job, until hundreds wake it every few seconds, each round re-examining every
    waiting job (5-12% of the jobs' CPU over a default run). Without a limit it wakes when a job
    finishes, which is all a local run needs; cluster runs keep their profile's limit.

    Called from ``onstart``: Snakemake hands the workflow its scheduling settings only when it
    executes, after the Snakefile is read, and builds the scheduler (and its limiter) from them
    just before ``onstart``; so the scheduler's limiter itself is dropped."""
    scheduler = getattr(workflow, "scheduler", None)
    if jobs_run_here(workflow) and scheduler is not None:
        scheduler.job_rate_limiter = None


def check_rule_paths(workflow, plan: Plan) -> None:
    """Every target and every rule's output (results/), log and benchmark (logs/) pattern stays
    under its folder."""
    from snakemake.exceptions import WorkflowError

    from .checks import ConfigError

    paths = []
    for each in workflow.rules:
        for folder, files in (("results", each.output), ("logs", each.log),
                              ("logs", [each.benchmark])):
            paths += [(folder, str(f), f"rule {each.name}") for f in files if f]
    try:
        plan.check_paths(paths)
    except ConfigError as e:
        raise WorkflowError(str(e)) from None
    # the text stays inside; the folders on disk must too (a link can lead anywhere)
    static = {os.path.dirname(p.split("{")[0]) or p for _, p, _ in paths}
    try:
        check_links_inside(plan.targets() + sorted(static))
    except ValueError as e:
        raise WorkflowError(f"Refusing to run: {e}") from None


#: The folders, relative to the working directory, that every output (results/) and every log and
#: benchmark (logs/) must resolve inside. Either may itself be a link (a results folder on a
#: scratch disk, made on purpose); a link below them that leads elsewhere is refused.
WRITE_ROOTS = ("results", "logs")


def check_links_inside(paths: list[str]) -> None:
    """Refuse, naming the link, any of ``paths`` (planned outputs, logs, benchmarks and the fixed
    folders of every rule's patterns) and any symbolic link already inside ``results/`` or
    ``logs/`` (at any depth: a future output may pass through it) that resolves outside both
    (:func:`hierphase.io.check_inside`). Raises EscapingPathError (a ValueError)."""
    from hierphase.io import check_inside

    links = []
    for root in WRITE_ROOTS:
        for folder, dirs, files in os.walk(root):
            links += [os.path.join(folder, n) for n in dirs + files
                      if os.path.islink(os.path.join(folder, n))]
    check_inside(list(paths) + links, WRITE_ROOTS)
