"""Planning of the workflow, importable and testable without Snakemake: what each branch's config
allows (schema and cross-key checks), the jobs and memory it plans, its wildcard values, targets,
seeds and figure table. ``workflow/branches.yaml`` is the registry of branches; the ``.smk`` files
keep the rules only and read everything else from the plan (``docs/architecture.md``).

    from hierphase.plan import load_plan_files
    plan = load_plan_files("workflow/presets/smoke.yaml")   # config.yaml + the preset, checked
    plan["rhm"].targets()
"""

from .branch import Branch, Context, per_attempt, sidecar
from .checks import ConfigError
from .config import Plan, load_plan, load_plan_files, read_registry
from .figures import Figure

__all__ = ["Branch", "Context", "ConfigError", "Figure", "Plan", "load_plan", "load_plan_files",
           "read_registry", "per_attempt", "sidecar"]
