# What every branch shares: config validation, sidecars, seeds, retries, the final target list.
#
# The recipe every branch follows (rhm, learned, images; a new branch copies it):
# - workflow/rules/<branch>.smk: the branch's rules, its target rule named after the branch
#   (`snakemake -c2 <branch>`) and its `localrules`; it includes <branch>_common.smk, the branch's
#   bookkeeping: config shortcuts, cross-key checks, seeds, wildcard constraints, file patterns,
#   input and target functions.
# - The same wildcard names for the same things in every branch (experiment, process, P, shard);
#   outputs under results/<branch>/, logs under logs/<branch>/; every output's JSON sidecar
#   declared with sidecar().
# - Seeds from job_seed() (config["seed"], branch, stage, the job's wildcards), handed to the
#   package as integers. Params: exactly the config keys that change a rule's outputs, as plain
#   values; the device (where a job runs) is read by the script from the config.
# - Rules that go to the cluster take mem_mb and runtime from per_attempt().
# - workflow/scripts/<branch>_<rule>.py reads snakemake.input and params, builds typed values,
#   calls one function of hierphase.stages.<branch> (the glue) and writes snakemake.output.
import math
import os
import re

from snakemake.exceptions import WorkflowError
from snakemake.resources import Resource, Resources
from snakemake.utils import validate

from hierphase.io import read_yaml_strict, sidecar_path
from hierphase.seeding import derive_seed


def sidecar(path):
    """The JSON sidecar (``<stem>.meta.json``: config, seed, package versions) that
    ``hierphase.io`` writes beside an output: rules declare it as an output too, so a failed job
    loses it with its other outputs and a finished one is checked to have written it."""
    return str(sidecar_path(path))


def config_error(key, message):
    """Stop before any job with a message that names the offending config key."""
    return WorkflowError(f"Invalid config key '{key}': {message}")


def package_check(key, build):
    """Run one of the package's validators; its ValueError, whose message starts with the
    offending field (after an optional ``Class:``), becomes a config error naming the key.
    """
    try:
        return build()
    except ValueError as e:
        field = re.match(r"(?:\w+: )?(\w+)", str(e)).group(1)
        raise config_error(f"{key}.{field}", str(e)) from None


def rhm_param_named(error):
    """The RHM parameter a ``validate_params`` error names: its message starts with
    ``RHM parameter <name>`` or, for a joint constraint, ``RHM parameters must satisfy <name>...``.
    """
    found = re.match(r"RHM parameters? (?:must satisfy )?([A-Za-z_]+)", str(error))
    return found.group(1) if found else "v"


def check_config_files():
    """Re-read the config files Snakemake merged, refusing what its loader lets through: a key
    given twice in one mapping (the last would silently win) and, in a file merged over another
    one, an empty mapping over a non-empty one (Snakemake merges key by key, so it removes nothing).
    """
    settings = workflow.config_settings
    cli_files = list(settings.configfiles)
    own_files = [f for f in workflow.configfiles if f not in cli_files]
    merged = cli_files if settings.replace_workflow_config else own_files + cli_files
    for position, path in enumerate(merged):
        try:
            data = read_yaml_strict(path)
        except ValueError as e:
            raise WorkflowError(f"Invalid config file {path}: {e}") from None
        if position == 0:
            continue
        for key, node in config_mappings(data):
            if not node and config_mappings_at(config, key):
                raise config_error(
                    key,
                    f"{path} sets it to {{}}, which removes nothing: Snakemake merges config "
                    "files key by key. List what to keep instead, or pass "
                    "--replace-workflow-config to ignore config.yaml.",
                )


def config_mappings(node, prefix=""):
    """(dotted key, mapping) of every mapping inside ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                yield dotted, value
            yield from config_mappings(value, dotted)


def config_mappings_at(node, dotted):
    """The value of the merged config at ``dotted`` (None when absent)."""
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check_finite(node, key=""):
    """NaN and infinity fail no JSON-schema bound (every comparison with NaN is false): refuse them
    wherever they appear, naming the key."""
    if isinstance(node, dict):
        for k, value in node.items():
            check_finite(value, f"{key}.{k}" if key else str(k))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_finite(value, f"{key}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise config_error(key, f"must be a finite number, got {node}.")


def validate_section(data, schema, prefix=""):
    """`validate` (types, ranges, defaults from the JSON schema), re-raised naming the config key."""
    try:
        validate(data, schema=schema)
    except WorkflowError as e:
        import jsonschema

        err = e.__cause__ or e.__context__
        if not isinstance(err, jsonschema.ValidationError):
            raise
        parts = ([prefix] if prefix else []) + [str(p) for p in err.absolute_path]
        # a bad name (the error is about the name itself), an unknown key: name it
        if "propertyNames" in err.schema_path:
            parts.append(str(err.instance))
        elif err.validator == "additionalProperties":
            known = err.schema.get("properties", {})
            parts.append(str(next(k for k in err.instance if k not in known)))
        key = ".".join(parts) or "<top level>"
        raise config_error(key, err.message) from None


check_config_files()
check_finite(config)
validate_section(config, "../schemas/config.schema.yaml")
for _section in ("rhm", "learned", "images"):
    validate_section(
        config[_section], f"../schemas/{_section}.schema.yaml", prefix=_section
    )


def check_job_count(counts):
    """Refuse a config that plans more than ``max_jobs`` jobs; ``counts``: {key: jobs it plans}."""
    total = sum(counts.values())
    if total > config["max_jobs"]:
        key, largest = max(counts.items(), key=lambda item: item[1])
        raise config_error(
            key,
            f"plans {largest} jobs ({total} in all), more than max_jobs = "
            f"{config['max_jobs']}. Shrink it, or raise max_jobs if you mean it.",
        )


def check_mem_mb(key, mem_mb, what):
    """Refuse a job that would declare more memory than ``max_mem_mb``."""
    if mem_mb > config["max_mem_mb"]:
        raise config_error(
            key,
            f"{what} needs about {mem_mb} MB, more than max_mem_mb = "
            f"{config['max_mem_mb']}. Lower it, or raise max_mem_mb on a node that has the memory.",
        )


def jobs_run_here():
    """True when this Snakemake runs the jobs on this machine. The executor is not known while
    the Snakefile is read, but its trace is: Snakemake turns --jobs into a node count only for
    cluster and cloud executors (a profile such as workflow/profiles/slurm sets jobs), and a job
    already sent to a node reads the Snakefile again in another mode."""
    return workflow.resource_settings.nodes is None and workflow.is_main_process


def check_device(key, device):
    """``cuda`` on a machine without CUDA, found before any job when the jobs run here (dry runs
    included). Under a cluster executor the jobs run on other nodes, which this one (a login node,
    often without a GPU) cannot speak for: there a job that finds no GPU fails with that message.
    """
    if device != "cuda" or not jobs_run_here():
        return
    import torch

    if not torch.cuda.is_available():
        raise config_error(
            key,
            "is 'cuda' but no CUDA device is visible on this machine, where the jobs run; set "
            "it to auto or cpu, or run on GPU nodes (e.g. with the SLURM profile).",
        )


def set_local_memory_limit():
    """Runs whose jobs run here: the machine's memory, or the user's ``--resources mem_mb=N``,
    becomes the global memory limit, so a job that declares more is refused before it starts
    instead of dying in an allocation, and jobs side by side never declare more than that.
    """
    if not jobs_run_here():
        return
    sizes = ("mem", "mem_mb", "mem_mib")
    given = [
        workflow.global_resources[k] for k in sizes if k in workflow.global_resources
    ]
    if given:
        mb = given[0].standardize_size().value
    else:
        mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 10**6
    # Snakemake (9.27) compares the jobs' mem_mb with a global resource keyed "mem" only, and
    # files --resources mem_mb=N under "mem_mb", where it limits nothing: refile it.
    others = {k: v for k, v in workflow.global_resources.items() if k not in sizes}
    workflow.global_resources = Resources(others)
    workflow.global_resources["mem"] = Resource("mem_mb", mb).standardize_size()


set_local_memory_limit()


def alternatives(names):
    """A wildcard constraint matching exactly ``names`` (none: a regex that matches nothing)."""
    return "|".join(sorted(names)) if names else "(?!)"


_WILDCARD_VALUES = {}


def wildcard_values(name, values):
    """The constraint of wildcard ``name``: ``values`` and those other branches declared for the
    same name. Wildcard constraints are global, so a name that two branches share (experiment,
    process) must match the values of both."""
    _WILDCARD_VALUES.setdefault(name, set()).update(values)
    return alternatives(_WILDCARD_VALUES[name])


def job_seed(branch, stage, *parts):
    """The seed of one job: the config's root seed, the branch, the stage and the job's wildcards
    (``parts``), nothing else, so a job draws the same numbers whatever runs before or beside it.
    The learned branch labels its stages ``learned-<stage>`` (one part), as it always has: its
    results keep their numbers."""
    labels = [f"{branch}-{stage}"] if branch == "learned" else [branch, stage]
    return derive_seed(config["seed"], *labels, *parts)


def per_attempt(base):
    """A resource (mem_mb, runtime) of a heavy rule, one that goes to the cluster: ``base`` (a
    number, or a function of the wildcards) times the attempt, so a job killed for its memory or
    time is retried with more (profile key ``retries``)."""

    def resource(wildcards, attempt):
        value = base(wildcards) if callable(base) else base
        return value * attempt

    return resource


def final_targets():
    """Every file the default target asks for; each enabled branch contributes its figures and
    report items. Before the DAG is built: the job count is checked against ``max_jobs`` and every
    output, log and benchmark path against its folder."""
    targets, jobs = [], {}
    if config["rhm"]["enabled"]:
        targets += rhm_targets()
        jobs.update(RHM_JOBS)
    if config["learned"]["enabled"]:
        targets += learned_targets()
        jobs.update(LEARNED_JOBS)
    if config["images"]["enabled"]:
        targets += images_targets()
        jobs.update(IMAGES_JOBS)
    check_job_count(jobs)
    check_paths_inside(targets)
    return targets


def check_paths_inside(targets):
    """Names that become paths cannot leave their folder: every name of the config, then every
    target and every rule's output (results/), log and benchmark (logs/) pattern."""
    names = {f"rhm.experiments.{n}": n for n in config["rhm"]["experiments"]}
    names.update(
        {f"learned.experiments.{n}": n for n in config["learned"]["experiments"]}
    )
    for part in ("data", "model", "classifier"):
        names[f"images.{part}.name"] = config["images"][part]["name"]
    for key, name in names.items():
        if not inside("results", f"results/{name}") or "/" in name:
            raise config_error(
                key, f"{name!r} would leave its folder; use letters, digits, _ and -."
            )
    paths = [("results", target, "rule all") for target in targets]
    for each in workflow.rules:
        for folder, files in (
            ("results", each.output),
            ("logs", each.log),
            ("logs", [each.benchmark]),
        ):
            paths += [(folder, str(f), f"rule {each.name}") for f in files if f]
    for folder, path, where in paths:
        if not inside(folder, path):
            raise WorkflowError(
                f"{where}: {path!r} is not under {folder}/; check the names in the config."
            )


def inside(folder, path):
    return os.path.normpath(path).startswith(folder + os.sep) and not os.path.isabs(
        path
    )
