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

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE = "workflow/presets/smoke.yaml"
#: Overlay of the smoke preset that leaves only the RHM branch on.
RHM_ONLY = "workflow/presets/only-rhm.yaml"
#: Every table of the smoke preset's RHM branch, the kept table first (the figures read them).
RHM_TABLES = ["results/rhm/aggregate/main/kept.parquet", "results/rhm/theory/main/summary.parquet",
              "results/rhm/theory/main/L2.parquet", "results/rhm/theory/main/L3.parquet"]
#: The tables of the smoke preset's depth L = 2: its three sweep shards (one per noise process)
#: and its mean-field table; what the kill-and-resume run makes.
RHM_L2_TABLES = [f"results/rhm/sweep/main/L2/rules0/{process}/shard0.parquet"
                 for process in ("epsilon", "gaussian", "masking")] \
    + ["results/rhm/theory/main/L2.parquet"]
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


#: Test modules that take longest (end-to-end workflow runs), longest first; the others follow in
#: their usual order. Under pytest-xdist (``--dist loadfile``, see pyproject.toml) a free worker
#: takes the next module in this order, so starting with the long ones keeps both cores
#: busy until the end.
LONGEST_MODULES = ("test_slurm.py", "test_workflow_rhm.py", "test_workflow_images.py",
                   "test_workflow_learned.py", "test_learned.py", "test_images_engine.py",
                   "test_bp.py")
#: Under xdist each module runs on one worker (its module-wide workflow runs are made once),
#: except that the RHM workflow and SLURM modules go together: both use the session's RHM runs
#: (``rhm_smoke``, ``rhm_killed_and_resumed``), which the SLURM module makes while its own run
#: waits on SLURM.
SAME_WORKER = {"test_slurm.py": "rhm-workflow", "test_workflow_rhm.py": "rhm-workflow"}
#: Long tests that use no module-wide fixture: each may go to any free worker on its own.
ON_THEIR_OWN = ("test_workflow_images.py::test_imagenet_preset_rules_on_generated_jpegs",)


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the modules of ``SAME_WORKER`` counted as one file and the tests
    of ``ON_THEIR_OWN`` as files of their own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModulesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rsplit("/", 1)[-1] in ON_THEIR_OWN:
                return nodeid
            module = super()._split_scope(nodeid)
            return SAME_WORKER.get(module.rsplit("/", 1)[-1], module)

    return ModulesTogether(config, log)


def pytest_collection_modifyitems(config, items):
    """Modules longest first; within a module the ``slow`` tests (workflow runs) first. xdist gives
    a worker its next module while the worker still has two tests to run, so a module that ends
    with quick tests does not hold the next one back."""
    def rank(item) -> tuple[int, bool]:
        name = item.path.name
        module = LONGEST_MODULES.index(name) if name in LONGEST_MODULES else len(LONGEST_MODULES)
        return module, item.get_closest_marker("slow") is None

    items.sort(key=rank)  # stable: tests otherwise keep their order


if os.environ.get("PYTEST_XDIST_WORKER"):
    # Workers share the cores with each other and with the workflow runs they start: one thread
    # per library in the test process, or every parallel region waits for a descheduled thread
    # (a BP or training test then runs several times slower). Tests that compare thread counts
    # set them explicitly.
    import numba
    import torch

    torch.set_num_threads(1)
    numba.set_num_threads(1)


@pytest.fixture(scope="session")
def rhm_smoke(tmp_path_factory) -> Path:
    """The smoke preset's RHM branch run once with ``-c2`` in a copy of the workflow, then its
    report: what tests/test_workflow_rhm.py inspects, and the local reference that
    tests/test_slurm.py compares its SLURM run with."""
    work = copy_workflow(tmp_path_factory.mktemp("rhm-smoke") / "work")
    run_snakemake(work, "-c2", configfile=[SMOKE, RHM_ONLY])
    run_snakemake(work, "--report", "report.html", configfile=[SMOKE, RHM_ONLY])
    return work


def table_bytes(work: Path) -> dict[str, bytes]:
    """Every table (parquet, CSV, sidecar) under ``work/results``, figures left out, by path
    relative to ``work``: what runs of the same config must reproduce byte for byte."""
    out = {}
    for path in sorted((work / "results").rglob("*")):
        if path.suffix in (".parquet", ".csv") or path.name.endswith(".meta.json"):
            if "figures" not in path.parts:
                out[str(path.relative_to(work))] = path.read_bytes()
    return out


def recorded_outputs(work: Path) -> set[str]:
    """Outputs whose job snakemake has recorded as finished (its metadata, keyed by base64 path)."""
    root = work / ".snakemake" / "metadata"
    names = set()
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file() and not path.name.startswith("."):
            key = "".join(path.relative_to(root).parts)
            try:
                names.add(base64.urlsafe_b64decode(key.encode()).decode())
            except ValueError:
                continue
    return names


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


@pytest.fixture(scope="session")
def rhm_killed_and_resumed(tmp_path_factory) -> dict:
    """The tables of the smoke preset's depth L = 2 (``RHM_L2_TABLES``) made with ``-c1`` by a run
    that is killed (SIGKILL to snakemake and its job) once one sweep shard is finished and
    recorded, then resumed with --rerun-incomplete: what was finished before the kill (with its mtimes), the
    resume's plan, and the workflow copy. tests/test_workflow_rhm.py checks it; the SLURM
    module makes it while its first SLURM run waits."""
    work = copy_workflow(tmp_path_factory.mktemp("rhm-resume") / "work")
    files = [SMOKE, RHM_ONLY]
    proc = subprocess.Popen(snakemake_command("-c1", *RHM_L2_TABLES, configfile=files), cwd=work,
                            env=snakemake_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not any("/sweep/" in name for name in recorded_outputs(work)):
            assert proc.poll() is None, "snakemake ended before any shard was finished"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = {work / name for name in recorded_outputs(work) if "/sweep/" in name}
    done = {p: p.stat().st_mtime_ns for p in finished}
    run_snakemake(work, "--unlock", configfile=files)
    plan = planned_jobs(run_snakemake(work, "-n", "--rerun-incomplete", *RHM_L2_TABLES,
                                      configfile=files).stdout)
    run_snakemake(work, "-c1", "--rerun-incomplete", *RHM_L2_TABLES, configfile=files)
    return {"work": work, "done": done, "plan": plan}


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    """A fresh copy of the workflow in a temporary directory."""
    return copy_workflow(tmp_path / "work")

