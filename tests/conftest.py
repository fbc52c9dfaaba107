"""Shared fixtures: run the workflow in a throwaway copy, as a user would from a fresh clone.

    def test_something(tmp_path):
        work = copy_workflow(tmp_path)
        run_snakemake(work, "-c2", configfile="workflow/presets/smoke.yaml")

``copy_workflow`` copies what a clone holds for the workflow (Snakefile, config.yaml, workflow/,
envs/) without results, logs or .snakemake; the ``hierphase`` package comes from the environment
pytest runs in. ``run_snakemake`` runs the snakemake of that environment in the copy and returns
the completed process (stdout and stderr merged into ``.stdout``); with ``check=True`` a non-zero
exit fails the test and shows the end of the log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What a clone holds for the workflow, relative to the repository root.
WORKFLOW_PATHS = ("Snakefile", "config.yaml", "workflow", "envs")
_IGNORE = shutil.ignore_patterns("results", "logs", ".snakemake", "__pycache__", "*.pyc")


def copy_workflow(dest: str | os.PathLike) -> Path:
    """Copy the workflow files of the repository into ``dest`` (created); return ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_PATHS:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=_IGNORE, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def snakemake_env() -> dict[str, str]:
    """The environment for workflow runs: this interpreter's bin/ first on PATH, one thread per
    library, so jobs run by snakemake use the same packages as the tests."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    return env


def snakemake_command(*args: str, configfile: str | os.PathLike | list | None = None) -> list[str]:
    """``snakemake ARGS [--configfile FILE...]`` with the snakemake of this interpreter."""
    exe = Path(sys.executable).parent / "snakemake"
    cmd = [str(exe) if exe.exists() else "snakemake", *map(str, args)]
    if configfile is not None:
        files = configfile if isinstance(configfile, (list, tuple)) else [configfile]
        cmd += ["--configfile", *map(str, files)]
    return cmd


def run_snakemake(workdir: str | os.PathLike, *args: str,
                  configfile: str | os.PathLike | list | None = None, check: bool = True,
                  timeout: float = 900) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` with ``args`` (and ``--configfile``s, relative to ``workdir``)."""
    cmd = snakemake_command(*args, configfile=configfile)
    proc = subprocess.run(cmd, cwd=workdir, env=snakemake_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"snakemake failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                    f"{proc.stdout[-6000:]}", pytrace=False)
    return proc


def planned_jobs(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job listed by a dry run (``snakemake -n``) in its output."""
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in output.splitlines():
        stripped = line.strip()
        if (stripped.startswith("rule ") or stripped.startswith("localrule ")) \
                and stripped.endswith(":"):
            jobs.append((stripped.split()[1].rstrip(":"), {}))
        elif stripped.startswith("wildcards:") and jobs:
            for item in stripped[len("wildcards:"):].split(","):
                key, _, value = item.strip().partition("=")
                jobs[-1][1][key] = value
    return jobs


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    """A fresh copy of the workflow in a temporary directory."""
    return copy_workflow(tmp_path / "work")
