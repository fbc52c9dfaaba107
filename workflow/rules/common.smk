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
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from hierphase.io import sidecar_path
from hierphase.seeding import derive_seed


def sidecar(path):
    """The JSON sidecar (``<stem>.meta.json``: config, seed, package versions) that
    ``hierphase.io`` writes beside an output: rules declare it as an output too, so a failed job
    loses it with its other outputs and a finished one is checked to have written it."""
    return str(sidecar_path(path))


def config_error(key, message):
    """Stop before any job with a message that names the offending config key."""
    return WorkflowError(f"Invalid config key '{key}': {message}")


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
        key = ".".join(parts) or "<top level>"
        raise config_error(key, err.message) from None


validate_section(config, "../schemas/config.schema.yaml")
for _section in ("rhm", "learned", "images"):
    validate_section(
        config[_section], f"../schemas/{_section}.schema.yaml", prefix=_section
    )


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
    """Every file the default target asks for; each enabled branch contributes its figures and report items."""
    targets = []
    if config["rhm"]["enabled"]:
        targets += rhm_targets()
    if config["learned"]["enabled"]:
        targets += learned_targets()
    if config["images"]["enabled"]:
        targets += images_targets()
    return targets
