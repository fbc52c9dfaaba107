"""The one entry point from config files to a checked plan: read and merge the config files as
Snakemake does, refuse what its loader lets through, validate the top level and every branch's
section against its schema (defaults filled into a copy, the user's config never changed), run each
branch's cross-key checks, then the checks across branches (job count, names that become paths).

Every refusal is a :class:`~hierphase.plan.checks.ConfigError` naming the offending key; a new
refusal belongs in :func:`load_plan` (or in a branch's ``check``), nowhere else.
"""

from __future__ import annotations

import copy
import functools
import importlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .branch import Branch, Context, inside
from .checks import ConfigError, check_finite, load_schema, validate_section

__all__ = ["Plan", "load_plan", "load_plan_files", "read_registry", "merge_config",
           "check_config_files", "REGISTRY"]

#: A wildcard value Snakemake refuses as periodic: a suffix made of one piece repeated 20 times or
#: more (its PeriodicityDetector); names become wildcard values.
PERIODIC_NAME = re.compile(r"(.+?)\1{19,}$")

#: The registry of branches, relative to the workflow root: name -> planning class.
REGISTRY = "workflow/branches.yaml"


def read_yaml_file(path: str | Path) -> Any:
    """A YAML file read strictly (a key given twice is refused naming the file); files read before
    and unchanged since come from a cache (a fresh copy each time)."""
    path = Path(path).resolve()
    try:
        return copy.deepcopy(_read_strict(path, path.stat().st_mtime_ns))
    except ValueError as e:
        raise ConfigError.file(path, e) from None


@functools.lru_cache(maxsize=64)
def _read_strict(path: Path, mtime_ns: int) -> Any:
    from hierphase.io import read_yaml_strict

    return read_yaml_strict(path)


def read_registry(root: str | Path) -> dict[str, type[Branch]]:
    """The branches of the workflow at ``root``, in order: name -> planning class (a subclass of
    :class:`Branch` named ``module:Class`` in ``workflow/branches.yaml``)."""
    entries = read_yaml_file(Path(root) / REGISTRY) or {}
    registry = {}
    for name, target in entries.items():
        module, _, attr = str(target).partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, Branch)) or cls.name != name:
            raise TypeError(f"{REGISTRY}: {name}: {target} is not a Branch named {name!r}")
        registry[name] = cls
    return registry


def top_schema(root: str | Path, registry: Mapping[str, type[Branch]]) -> dict:
    """The top-level schema: ``workflow/schemas/config.schema.yaml`` with one required section
    per registered branch."""
    schema = load_schema(Path(root) / "workflow/schemas/config.schema.yaml")
    for name, cls in registry.items():
        schema["properties"][name] = {"type": "object", "description": cls.description}
    schema["required"] = list(schema.get("required", [])) + list(registry)
    return schema


def merge_config(base: dict, overlay: Mapping) -> dict:
    """``overlay`` merged into ``base`` key by key, as Snakemake merges config files (in place)."""
    for key, value in overlay.items():
        if isinstance(value, Mapping):
            sub = base.get(key)
            base[key] = merge_config(sub if isinstance(sub, dict) else {}, value)
        else:
            base[key] = value
    return base


def _mappings(node: Any, prefix: str = ""):
    """(dotted key, mapping) of every mapping inside ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                yield dotted, value
            yield from _mappings(value, dotted)


def _at(node: Any, dotted: str) -> Any:
    """The value of ``node`` at ``dotted`` (None when absent)."""
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check_no_empty_overlay(overlay: Any, merged: Mapping, source: str) -> None:
    """Refuse, in an ``overlay`` merged over another config (a config file after the first, or
    the ``--config`` overrides, named by ``source``), an empty mapping over a non-empty one:
    configs merge key by key, so it removes nothing."""
    for key, node in _mappings(overlay):
        if not node and _at(merged, key):
            raise ConfigError(
                key, f"{source} sets it to {{}}, which removes nothing: Snakemake merges config "
                "files key by key. List what to keep instead, or pass "
                "--replace-workflow-config to ignore config.yaml.")


def check_config_files(paths: list, merged: Mapping) -> list:
    """Re-read the config files merged (in merge order) into ``merged``, refusing what a plain
    loader lets through: a key given twice in one mapping (the last would silently win) and, in a
    file merged over another one, an empty mapping over a non-empty one
    (:func:`check_no_empty_overlay`). Returns the files' contents."""
    contents = []
    for position, path in enumerate(paths):
        try:
            data = read_yaml_file(path)
        except ConfigError as e:  # named as the user gave it
            raise ConfigError.file(path, e.message) from None
        contents.append(data or {})
        if position > 0:
            check_no_empty_overlay(data, merged, str(path))
    return contents


class Plan:
    """A checked config and its branches: ``plan.config`` (the validated copy, defaults filled),
    ``plan[name]`` (a branch), ``plan.branches`` (all, in registry order)."""

    def __init__(self, config: dict, branches: dict[str, Branch], context: Context):
        self.config, self.branches, self.context = config, branches, context

    def __getitem__(self, name: str) -> Branch:
        return self.branches[name]

    @property
    def enabled(self) -> list[Branch]:
        return [b for b in self.branches.values() if b.enabled]

    def jobs(self) -> dict[str, int]:
        """{config key: jobs it plans} of every enabled branch."""
        return {k: n for b in self.enabled for k, n in b.jobs.items()}

    def targets(self) -> list[str]:
        """Every file the default target asks for: each enabled branch's targets."""
        return [t for b in self.enabled for t in b.targets()]

    def figures(self):
        """The figure table of every branch (enabled or not: the rules exist either way)."""
        return [f for b in self.branches.values() for f in b.figures()]

    def wildcard_constraints(self) -> dict[str, str]:
        """One constraint per wildcard name: the values every branch declares for it (wildcard
        constraints are global, so a name two branches share must match the values of both)."""
        from .checks import alternatives

        values: dict[str, set | str] = {}
        for branch in self.branches.values():
            for name, allowed in branch.wildcards().items():
                if isinstance(allowed, str):
                    values.setdefault(name, allowed)
                else:
                    values[name] = set(values.get(name, set())) | set(allowed)
        return {name: v if isinstance(v, str) else alternatives(v) for name, v in values.items()}

    def check_jobs(self) -> None:
        """Refuse a config that plans more than ``max_jobs`` jobs, naming the key that plans most."""
        counts, limit = self.jobs(), self.context.max_jobs
        total = sum(counts.values())
        if total > limit:
            key, largest = max(counts.items(), key=lambda item: item[1])
            raise ConfigError(key, f"plans {largest} jobs ({total} in all), more than max_jobs = "
                              f"{limit}. Shrink it, or raise max_jobs if you mean it.")

    def check_paths(self, paths: list[tuple[str, str, str]] = ()) -> None:
        """Names that become paths cannot leave their folder: every name of the config, then every
        target and ``paths`` ((folder, path, where): the rules' outputs, logs, benchmarks)."""
        for branch in self.branches.values():
            for key, name in branch.names().items():
                if not inside("results", f"results/{name}") or "/" in name:
                    raise ConfigError(key, f"{name!r} would leave its folder; use letters, "
                                      "digits, _ and -.")
                if re.search(PERIODIC_NAME, name):
                    raise ConfigError(key, f"{name!r} ends in one piece repeated 20 times or "
                                      "more, which Snakemake takes for an endless recursion of "
                                      "its rules (PeriodicWildcardError); choose another name.")
        checked = [("results", t, "rule all") for t in self.targets()] + list(paths)
        for folder, path, where in checked:
            if not inside(folder, path):
                raise ConfigError.path(where, path, folder)


def load_plan(config: Mapping, *, root: str | Path = ".", files: list = (),
              overrides: Mapping | None = None, jobs_run_here: bool = True) -> Plan:
    """Check a merged ``config`` (never changed) and plan every registered branch.

    ``files``: the config files it was merged from, in merge order (their duplicate keys and empty
    overlays are refused); ``overrides``: the ``--config`` values merged over them (an empty
    mapping there is refused as in a file); ``jobs_run_here``: False under a cluster executor (a device the jobs
    ask for is then the nodes' business). Raises ConfigError naming the offending key."""
    root = Path(root)
    check_config_files(list(files), config)
    if overrides:
        check_no_empty_overlay(dict(overrides), config, "--config")
    check_finite(dict(config))
    registry = read_registry(root)
    checked = validate_section(dict(config), top_schema(root, registry))
    context = Context(checked["seed"], checked["max_mem_mb"], checked["max_jobs"], jobs_run_here)
    branches = {}
    for name, cls in registry.items():
        given = checked[name]
        if isinstance(given, dict) and given.get("enabled") is False:
            # switched off: its other keys are never read, so none of them can block a run of
            # another branch; its rules still exist and read the schema's defaults
            given = {"enabled": False}
        section = validate_section(given, root / f"workflow/schemas/{name}.schema.yaml",
                                   prefix=name)
        checked[name] = section
        branches[name] = cls(section, context)
    plan = Plan(checked, branches, context)
    plan.check_jobs()
    plan.check_paths()
    return plan


def load_plan_files(*overlays: str | Path, root: str | Path = ".", replace: bool = False,
                    jobs_run_here: bool = True) -> Plan:
    """The plan of ``config.yaml`` at ``root`` with ``overlays`` merged over it (``replace``:
    the overlays alone), as ``snakemake --configfile OVERLAY...`` would see it, without
    Snakemake."""
    root = Path(root)
    own = [] if replace else [root / "config.yaml"]
    paths = own + [p if Path(p).is_absolute() else root / p for p in overlays]
    merged: dict = {}
    for path in paths:
        try:
            data = read_yaml_file(path)
        except ConfigError as e:  # named as the user gave it
            raise ConfigError.file(path, e.message) from None
        merge_config(merged, data or {})
    return load_plan(merged, root=root, files=paths, jobs_run_here=jobs_run_here)
