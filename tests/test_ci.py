"""The GitHub CI definition (.github/workflows/ci.yml): valid for actionlint, and it runs what it
promises (lint, then the smoke preset end to end, on push and pull request, with a cached
environment). The local CI is .ci/run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from workflow_helpers import REPO

CI = REPO / ".github/workflows/ci.yml"


def _actionlint(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("actionlint")
    return subprocess.run([str(exe) if exe.exists() else "actionlint", "-no-color", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_actionlint_passes():
    proc = _actionlint(str(CI.relative_to(REPO)))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_finds_errors(tmp_path):
    """The check can fail: a job without runs-on and an undefined expression are reported."""
    broken = tmp_path / ".github/workflows/ci.yml"
    broken.parent.mkdir(parents=True)
    text = CI.read_text().replace("    runs-on: ubuntu-24.04\n", "", 1)
    broken.write_text(text.replace("${{ runner.os }}", "${{ runner.nonexistent }}", 1))
    proc = _actionlint(str(broken.relative_to(tmp_path)), cwd=tmp_path)
    assert proc.returncode != 0
    assert "runs-on" in proc.stdout and "nonexistent" in proc.stdout, proc.stdout


def _runs(job: dict) -> list[str]:
    return [" ".join(step["run"].split()) for step in job["steps"] if "run" in step]


def test_ci_lints_then_runs_the_smoke_preset_with_a_cached_environment():
    ci = yaml.safe_load(CI.read_text())
    triggers = ci[True]  # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    lint, smoke = ci["jobs"]["lint"], ci["jobs"]["smoke"]
    assert "./workflow/with-env.sh snakemake --lint" in _runs(lint)
    assert "./workflow/with-env.sh snakefmt --check Snakefile workflow/rules" in _runs(lint)
    assert smoke["needs"] == "lint"
    assert ("./workflow/with-env.sh snakemake --workflow-profile workflow/profiles/default "
            "--configfile workflow/presets/smoke.yaml") in _runs(smoke)
    for job in (lint, smoke):
        caches = [s for s in job["steps"] if s.get("uses", "").startswith("actions/cache@")]
        assert len(caches) == 1 and caches[0]["with"]["path"] == ".venv"
        key = caches[0]["with"]["key"]
        for source in ("envs/lock-*.txt", "workflow/with-env.sh"):
            assert source in key, key
    # what the steps call exists in the repository
    for run in _runs(lint) + _runs(smoke):
        for token in run.split():
            if token.startswith(("./workflow/", "workflow/")):
                assert (REPO / token).exists(), token
