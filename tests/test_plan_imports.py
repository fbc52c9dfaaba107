"""Planning stays light: Snakemake reads the plan on every invocation (a dry run, a no-op rerun,
every job of a cluster run), so the plan must not pull torch, numba, pandas or the plotting
libraries in through the validators it calls."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from workflow_helpers import REPO, SMOKE

HEAVY = ("torch", "numba", "pandas", "matplotlib", "seaborn", "scipy", "pyarrow", "sklearn")

#: Builds the whole plan as the rules read it (every branch's checks, jobs, wildcard values,
#: targets and figure tables), then prints the heavy modules that got imported.
PLAN_SCRIPT = """
import json, sys
from hierphase.plan import load_plan_files

plan = load_plan_files(*sys.argv[2:], root=sys.argv[1])
plan.jobs(), plan.targets(), plan.figures(), plan.wildcard_constraints()
heavy = {heavy}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def heavy_modules_after(script: str, *args: str) -> list[str]:
    code = script.format(heavy=repr(HEAVY))
    done = subprocess.run([sys.executable, "-c", code, str(REPO), *args], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("overlays", [(), (SMOKE,)], ids=["default", "smoke"])
def test_planning_imports_no_heavy_module(overlays):
    assert heavy_modules_after(PLAN_SCRIPT, *overlays) == []


def test_the_import_check_sees_a_heavy_import():
    """The same check on a script that does import pandas reports it (the check can fail)."""
    script = "import pandas\n" + PLAN_SCRIPT
    assert "pandas" in heavy_modules_after(script)
