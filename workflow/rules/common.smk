# What every branch shares: config validation, sidecars, seeds, the final target list.
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
