"""What a branch of the workflow is to the planner: one object per branch, built from its config
section, holding everything the rules need besides the rules themselves.

A branch subclass declares its ``name`` and fills in, from its checked config section: the jobs each
config key plans (``jobs``), its wildcard values (``wildcards``), its targets, its figure table and
the seeds of its jobs. The rules in ``workflow/rules/<name>.smk`` read it as ``PLAN[name]``.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from hierphase.seeding import derive_seed

from .checks import ConfigError
from .figures import Figure

__all__ = ["Branch", "Context", "ExperimentBranch", "per_attempt", "sidecar"]

#: Seeds of the stages whose labels predate the one rule ``[branch, stage]``: (branch, stage) ->
#: labels. Kept so that no table changes its numbers; a new branch or stage never enters it.
LEGACY_SEED_LABELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("learned", stage): (f"learned-{stage}",)
    for stage in ("rules", "data", "train", "generate", "sweep", "correlations")
}


class Context:
    """What every branch's checks share: the root seed, the memory and job ceilings, and whether
    the jobs run on this machine (a device check there; a cluster's nodes speak for themselves)."""

    def __init__(self, seed: int, max_mem_mb: int, max_jobs: int, jobs_run_here: bool = True):
        self.seed, self.max_mem_mb, self.max_jobs = seed, max_mem_mb, max_jobs
        self.jobs_run_here = jobs_run_here

    def check_mem_mb(self, key: str, mem_mb: int, what: str) -> None:
        """Refuse a job that would declare more memory than ``max_mem_mb``."""
        if mem_mb > self.max_mem_mb:
            raise ConfigError(
                key, f"{what} needs about {mem_mb} MB, more than max_mem_mb = {self.max_mem_mb}. "
                "Lower it, or raise max_mem_mb on a node that has the memory.")

    def check_device(self, key: str, device: str) -> None:
        """``cuda`` on a machine without CUDA, found before any job when the jobs run here (dry
        runs included). Under a cluster executor the jobs run on other nodes, which this one (a
        login node, often without a GPU) cannot speak for: there a job that finds no GPU fails."""
        if device != "cuda" or not self.jobs_run_here:
            return
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                key, "is 'cuda' but no CUDA device is visible on this machine, where the jobs run; "
                "set it to auto or cpu, or run on GPU nodes (e.g. with the SLURM profile).")


class Branch:
    """One branch of the workflow. Subclasses set ``name`` and implement ``check`` (cross-key
    checks of the validated section; sets ``jobs``), ``wildcards``, ``targets`` and ``figures``."""

    name: str = ""
    #: One line for the top-level schema.
    description: str = ""
    #: Check the section even when the branch is switched off (its rules are still defined and
    #: read it); a branch whose checks look at local files the user may not have says False.
    checked_when_disabled: bool = True

    def __init__(self, section: dict, context: Context):
        self.config = section
        self.context = context
        self.enabled = bool(section.get("enabled", True))
        #: {config key: jobs it plans}, for the max_jobs check
        self.jobs: dict[str, int] = {}
        if self.enabled or self.checked_when_disabled:
            self.check()

    # -- what a subclass provides
    def check(self) -> None:
        """Cross-key checks of ``self.config`` that JSON schema cannot express; sets ``jobs``."""

    def wildcards(self) -> dict[str, set | str]:
        """Wildcard name -> the values the branch uses (a set) or a regex (a string)."""
        return {}

    def targets(self) -> list[str]:
        """Every file the branch's target rule asks for."""
        return []

    def figures(self) -> list[Figure]:
        """The branch's figure table: one entry per figure rule."""
        return []

    def names(self) -> dict[str, str]:
        """{config key: name} of every config value that becomes part of a path."""
        return {}

    # -- shared
    def seed(self, stage: str, *parts: Any) -> int:
        """The seed of one job: the root seed, the branch, the stage and the job's own values
        (``parts``: its wildcards), nothing else, so a job draws the same numbers whatever runs
        before or beside it."""
        labels = LEGACY_SEED_LABELS.get((self.name, stage), (self.name, stage))
        return derive_seed(self.context.seed, *labels, *parts)


class ExperimentBranch(Branch):
    """A branch whose config lists named RHM experiments under ``experiments``: the job's
    experiment comes from the ``experiment`` wildcard."""

    @property
    def experiments(self) -> dict:
        return self.config.get("experiments", {})

    def names(self) -> dict[str, str]:
        return {f"{self.name}.experiments.{n}": n for n in self.experiments}

    def exp(self, wildcards) -> dict:
        return self.experiments[wildcards.experiment]

    def param(self, key: str) -> Callable:
        """A params function: the key of the job's experiment."""
        return lambda wc: self.experiments[wc.experiment][key]

    def n_classes(self, wildcards) -> int:
        exp = self.exp(wildcards)
        return exp["n_classes"] or exp["v"]


def sidecar(path: str) -> str:
    """The JSON sidecar (``<stem>.meta.json``: config, seed, package versions) that
    ``hierphase.io`` writes beside an output: rules declare it as an output too, so a failed job
    loses it with its other outputs and a finished one is checked to have written it."""
    from hierphase.io import sidecar_path

    return str(sidecar_path(path))


def per_attempt(base) -> Callable:
    """A resource (mem_mb, runtime) of a heavy rule, one that goes to the cluster: ``base`` (a
    number, or a function of the wildcards) times the attempt, so a job killed for its memory or
    time is retried with more (profile key ``retries``)."""

    def resource(wildcards, attempt):
        value = base(wildcards) if callable(base) else base
        return value * attempt

    return resource


def inside(folder: str, path: str) -> bool:
    """``path`` is relative and stays under ``folder``."""
    return os.path.normpath(path).startswith(folder + os.sep) and not os.path.isabs(path)
