"""Helpers for the tests that run the workflow in a throwaway copy, as a user would from a
fresh clone.

    def test_something(tmp_path):
        work = copy_workflow(tmp_path)
        run_snakemake(work, "-c2", configfile="workflow/presets/smoke.yaml")

``copy_workflow`` copies what a clone holds for the workflow (Snakefile, config.yaml, workflow/,
envs/) without results, logs or .snakemake; the ``hierphase`` package comes from the environment
pytest runs in. ``run_snakemake`` runs the snakemake of that environment in the copy and returns
the completed process (stdout and stderr merged into ``.stdout``); with ``check=True`` a non-zero
exit fails the test and shows the end of the log. The fixtures built on them (the session's RHM
runs) are in conftest.py.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SMOKE = "workflow/presets/smoke.yaml"
#: Overlay of the smoke preset that leaves only the RHM branch on.
RHM_ONLY = "workflow/presets/only-rhm.yaml"
#: Every table of the smoke preset's RHM branch, the kept table first (the figures read them).
RHM_TABLES = ["results/rhm/aggregate/main/kept.parquet", "results/rhm/theory/main/summary.parquet",
              "results/rhm/theory/main/L2.parquet", "results/rhm/theory/main/L3.parquet"]
#: Columns of the RHM branch's kept tables (sweep shards and their aggregate), in order.
RHM_KEPT_COLUMNS = ["experiment", "model", "process", "L", "rule_seed", "level", "noise", "t",
                    "t_over_T", "kept_marginal", "kept_sampled", "ci_low", "ci_high", "n"]
#: The tables of the smoke preset's depth L = 2: its three sweep shards (one per noise process),
#: its mean-field table, its two change-correlation shards and their mean-field tables; what the
#: kill-and-resume run makes.
RHM_L2_TABLES = [f"results/rhm/sweep/main/L2/rules0/{process}/shard0.parquet"
                 for process in ("epsilon", "gaussian", "masking")] \
    + ["results/rhm/theory/main/L2.parquet"] \
    + [f"results/rhm/correlations/{stage}/{table}.parquet"
       for stage in ("sweep/main/L2/rules0/epsilon/shard0", "sweep/main/L2/rules0/masking/shard0",
                     "theory/main/L2")
       for table in ("correlations", "susceptibility")]
#: The smoke preset's change-correlation tables (every experiment, mean field, controls).
RHM_CORR_TABLES = ["results/rhm/correlations/correlations.parquet",
                   "results/rhm/correlations/susceptibility.parquet"]
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


def start_from(work: Path, run: Path) -> None:
    """Copy the results and Snakemake's records of the workflow copy ``run`` into ``work``,
    mtimes kept: there a run of the same config has nothing left to do for those outputs."""
    shutil.copytree(run / "results", work / "results", dirs_exist_ok=True)
    shutil.copytree(run / ".snakemake/metadata", work / ".snakemake/metadata",
                    dirs_exist_ok=True)


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


def logs_with_carriage_returns(work: Path) -> list[str]:
    """Job logs under ``work/logs`` that hold a carriage return (a progress bar's redraw: a job's
    stderr should turn them into lines, hierphase.jobs.ProgressLines)."""
    return sorted(str(p.relative_to(work)) for p in (work / "logs").rglob("*.log")
                  if b"\r" in p.read_bytes())


def table_bytes(work: Path) -> dict[str, bytes]:
    """Every table (parquet, CSV, sidecar) under ``work/results``, figures left out, by path
    relative to ``work``: what runs of the same config must reproduce byte for byte."""
    out = {}
    for path in sorted((work / "results").rglob("*")):
        if path.suffix in (".parquet", ".csv") or path.name.endswith(".meta.json"):
            if "figures" not in path.parts:
                out[str(path.relative_to(work))] = path.read_bytes()
    return out


def _snakemake_keys(root: Path) -> set[str]:
    """The output paths that snakemake keys files by under ``root`` (base64 of the path, split
    into folders of at most 255 characters, every part but the last prefixed with ``@``)."""
    names = set()
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file() and not path.name.startswith("."):
            key = "".join(part.removeprefix("@") for part in path.relative_to(root).parts)
            try:
                names.add(base64.urlsafe_b64decode(key.encode()).decode())
            except ValueError:
                continue
    return names


def recorded_outputs(work: Path) -> set[str]:
    """Outputs whose job snakemake has recorded (its metadata): the job may still be marked
    incomplete, since snakemake writes every output's record before it clears their markers."""
    return _snakemake_keys(work / ".snakemake" / "metadata")


def finished_outputs(work: Path) -> set[str]:
    """Outputs that snakemake has recorded and no longer marks incomplete."""
    return recorded_outputs(work) - _snakemake_keys(work / ".snakemake" / "incomplete")


def undeclared_results(work: Path) -> list[str]:
    """Files under ``work/results`` that no finished job declared: neither the file nor a folder
    holding it is a recorded output. Snakemake neither removes such files when a job fails nor
    checks that a job wrote them, so every file a job writes (sidecars included) is declared."""
    recorded = recorded_outputs(work)
    undeclared = []
    for path in sorted((work / "results").rglob("*")):
        rel = path.relative_to(work)
        if path.is_file() and not any(str(p) in recorded for p in [rel, *rel.parents]):
            undeclared.append(str(rel))
    return undeclared


def others_off(branch: str) -> dict:
    """The overlay that switches off every registered branch (``workflow/branches.yaml``) but
    ``branch``: what ``workflow/presets/only-<branch>.yaml`` holds."""
    registry = yaml.safe_load((REPO / "workflow/branches.yaml").read_text())
    return {name: {"enabled": False} for name in registry if name != branch}


def branch_smoke_run(dest: str | os.PathLike, branch: str) -> Path:
    """A copy of the workflow in ``dest`` that has run the smoke preset's ``branch`` alone
    (``workflow/presets/only-<branch>.yaml``, checked to equal :func:`others_off`) with -c2."""
    work = copy_workflow(dest)
    only = f"workflow/presets/only-{branch}.yaml"
    assert yaml.safe_load((work / only).read_text()) == others_off(branch)
    run_snakemake(work, "-c2", branch, configfile=[SMOKE, only])
    return work


def assert_figures_drawn(folder: Path, names) -> None:
    """Each figure ``names`` in ``folder`` drawn as PNG and PDF (more than 5,000 bytes each)."""
    for name in names:
        for ext in ("png", "pdf"):
            path = folder / f"{name}.{ext}"
            assert path.stat().st_size > 5000, path


def with_overlay(work: Path, files: list[str], extra: dict) -> list[str]:
    """``files`` with ``extra`` written to ``work/extra.yaml`` and merged last."""
    (work / "extra.yaml").write_text(yaml.safe_dump(extra))
    return [*files, "extra.yaml"]
