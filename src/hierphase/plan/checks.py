"""The config checks every branch shares: one error type naming the offending key, the JSON-schema
validation (defaults filled into a copy), finiteness, memory and job ceilings.

Free of Snakemake and torch: the planning module and its tests import it without a workflow.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from pathlib import Path
from typing import Any, Callable

__all__ = ["ConfigError", "package_check", "param_named", "check_finite", "validate_section",
           "alternatives", "block_values", "blocks_values"]


class ConfigError(ValueError):
    """A config value refused before any job runs; ``key`` is its dotted config key."""

    def __init__(self, key: str | None, message: str, text: str | None = None):
        self.key, self.message = key, message
        super().__init__(text or f"Invalid config key '{key}': {message}")

    @classmethod
    def file(cls, path, error: Exception) -> "ConfigError":
        """A config file that cannot be read as it stands (e.g. a key given twice)."""
        return cls(None, str(error), f"Invalid config file {path}: {error}")

    @classmethod
    def path(cls, where: str, path: str, folder: str) -> "ConfigError":
        """An output, log or benchmark path that would leave its folder."""
        return cls(None, path, f"{where}: {path!r} is not under {folder}/; check the names in the "
                   "config.")


def package_check(key: str, build: Callable[[], Any]) -> Any:
    """Run one of the package's validators; its ValueError, whose message starts with the
    offending field (after an optional ``Class:``), becomes a ConfigError naming ``key.field``."""
    try:
        return build()
    except ValueError as e:
        field = re.match(r"(?:\w+: )?(\w+)", str(e)).group(1)
        raise ConfigError(f"{key}.{field}", str(e)) from None


def param_named(error: Exception) -> str:
    """The RHM parameter a ``validate_params`` error names: its message starts with
    ``RHM parameter <name>`` or, for a joint constraint, ``RHM parameters must satisfy <name>...``."""
    found = re.match(r"RHM parameters? (?:must satisfy )?([A-Za-z_]+)", str(error))
    return found.group(1) if found else "v"


def check_rhm_params(key: str, v, m, s, L, n_classes) -> None:
    """The package's ``validate_params``, its error re-raised naming ``key.<parameter>``."""
    from hierphase.params import validate_params

    try:
        validate_params(v, m, s, L, n_classes)
    except ValueError as e:
        raise ConfigError(f"{key}.{param_named(e)}", str(e)) from None


def check_finite(node: Any, key: str = "") -> None:
    """NaN and infinity fail no JSON-schema bound (every comparison with NaN is false): refuse them
    wherever they appear, naming the key; refuse too a key that is not a string (YAML reads
    ``yes:``, ``123:``, ``null:`` as a bool, an int, None)."""
    if isinstance(node, dict):
        for k, value in node.items():
            if not isinstance(k, str):
                raise ConfigError(f"{key}.{k!r}" if key else repr(k),
                                  "a key must be a string; quote it.")
            check_finite(value, f"{key}.{k}" if key else str(k))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_finite(value, f"{key}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(key, f"must be a finite number, got {node}.")


def load_schema(path: str | Path) -> dict:
    """A JSON schema written as YAML (a fresh copy: callers may extend it)."""
    path = Path(path).resolve()
    return copy.deepcopy(_parsed_schema(path, path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=32)
def _parsed_schema(path: Path, mtime_ns: int) -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
    return yaml.load(path.read_text(), Loader=loader)


@functools.lru_cache(maxsize=1)
def _filling_validator():
    """Draft 2020-12 that fills in every ``default`` of a ``properties`` block it visits (a copy of
    the default), as Snakemake's ``validate`` does."""
    from jsonschema import Draft202012Validator, ValidationError, validators

    base = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from base(validator, properties, instance, schema)

    def full_match(validator, pattern, instance, schema):
        # "$" also matches before a trailing newline: a name must match the pattern as a whole
        anchored = pattern.startswith("^") and pattern.endswith("$")
        match = re.fullmatch(pattern[1:-1], instance) if anchored and isinstance(instance, str) \
            else re.search(pattern, instance) if isinstance(instance, str) else True
        if not match:
            yield ValidationError(f"{instance!r} does not match {pattern!r}")

    # JSON Schema counts 64.0 as an integer; a config's integers are Python ints, never bools
    types = Draft202012Validator.TYPE_CHECKER.redefine_many({
        "integer": lambda _, x: isinstance(x, int) and not isinstance(x, bool),
        "number": lambda _, x: isinstance(x, (int, float)) and not isinstance(x, bool),
    })
    return validators.extend(Draft202012Validator, {"properties": properties_with_defaults,
                                                    "pattern": full_match},
                             type_checker=types)


def validate_section(data: dict, schema: dict | str | Path, prefix: str = "") -> dict:
    """A copy of ``data`` validated against the JSON ``schema`` (types, ranges) with the schema's
    defaults filled in, as Snakemake's ``validate`` fills them; errors name the config key."""
    import jsonschema

    if not isinstance(schema, dict):
        schema = load_schema(schema)
    data = copy.deepcopy(data)
    try:
        _filling_validator()(schema).validate(data)
    except jsonschema.ValidationError as err:
        parts = ([prefix] if prefix else []) + [str(p) for p in err.absolute_path]
        # a bad name (the error is about the name itself), an unknown key: name it
        if "propertyNames" in err.schema_path:
            parts.append(str(err.instance))
        elif err.validator == "additionalProperties":
            known = err.schema.get("properties", {})
            parts.append(str(next(k for k in err.instance if k not in known)))
        raise ConfigError(".".join(parts) or "<top level>", err.message) from None
    return data


def alternatives(names) -> str:
    """A wildcard constraint matching exactly ``names`` (none: a regex that matches nothing)."""
    return "|".join(sorted(names)) if names else "(?!)"


def block_values(block: dict) -> list[float]:
    """The noise values of one grid block (one shard), rounded to 6 decimals, sorted, unique."""
    if "values" in block:
        values = block["values"]
    elif block["num"] == 1:
        values = [block["start"]]
    else:
        step = (block["stop"] - block["start"]) / (block["num"] - 1)
        values = [block["start"] + i * step for i in range(block["num"])]
    return sorted({round(float(x), 6) for x in values})


def blocks_values(blocks: list[dict]) -> list[float]:
    """The noise values of a list of grid blocks together, sorted, unique."""
    return sorted({x for block in blocks for x in block_values(block)})
