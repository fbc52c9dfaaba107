"""Fixtures and pytest hooks shared by the test modules: the session's workflow runs of the RHM
branch (made once, used by tests/test_workflow_rhm.py and tests/test_slurm.py), a fresh workflow
copy per test, and the order in which pytest-xdist hands modules to its workers. The helpers that
run the workflow are in tests/workflow_helpers.py.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from workflow_helpers import (RHM_L2_TABLES, RHM_ONLY, SMOKE, copy_workflow, planned_jobs,
                              finished_outputs, run_snakemake, snakemake_command, snakemake_env)

#: Test modules that take longest (end-to-end workflow runs), longest first (the durations
#: pytest lists at the end); the others follow in their usual order. Under pytest-xdist
#: (``--dist loadfile``, see pyproject.toml) a free worker takes the next module in this order,
#: so starting with the long ones keeps both cores busy until the end. The docs modules come
#: after the first three: they start from the session's RHM run, which the SLURM module makes.
LONGEST_MODULES = ("test_slurm.py", "test_workflow_rhm.py", "test_workflow_images.py",
                   "test_hostile_memory.py", "test_environment.py", "test_docs_numbers.py", "test_docs.py",
                   "test_workflow_learned.py", "test_config_fuzz.py", "test_workflow_grammar.py",
                   "test_workflow_mdlm.py",
                   "test_grammar.py",
                   "test_bp.py", "test_config_validation.py", "test_learned.py",
                   "test_images_engine.py")
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


#: Why a ``torchvision`` test skips in the CPU-only environment (the other tests run there too).
TORCHVISION_ABSENT = ("needs torchvision, which the CPU-only environment leaves out; "
                      "HIERPHASE_TORCH=cuda ./workflow/with-env.sh pytest runs it")


def pytest_collection_modifyitems(config, items):
    """Modules longest first (``LONGEST_MODULES``), the others after them in their usual order;
    the deep tier of the property-based suites (marker ``fuzz``) only when ``-m`` asks for it;
    the tests of torchvision's classifiers (marker ``torchvision``) only where it is installed."""
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_MODULES.index(name) if name in LONGEST_MODULES else len(LONGEST_MODULES)

    items.sort(key=rank)  # stable: tests otherwise keep their order
    if importlib.util.find_spec("torchvision") is None:
        absent = pytest.mark.skip(reason=TORCHVISION_ABSENT)
        for item in items:
            if item.get_closest_marker("torchvision"):
                item.add_marker(absent)
    if "fuzz" not in (config.getoption("markexpr") or ""):
        deep = pytest.mark.skip(reason="the deep tier runs with -m fuzz")
        for item in items:
            if item.get_closest_marker("fuzz"):
                item.add_marker(deep)


if os.environ.get("PYTEST_XDIST_WORKER"):
    # Workers share the cores with each other and with the workflow runs they start: one thread
    # per library in the test process, or every parallel region waits for a descheduled thread
    # (a BP or training test then runs several times slower). Tests that compare thread counts
    # set them explicitly.
    import numba
    import torch

    torch.set_num_threads(1)
    numba.set_num_threads(1)


def made_once(tmp_path_factory, name: str, make) -> Path:
    """A copy of the workflow in which ``make(work)`` ran once per test session, whichever
    pytest-xdist worker asks first (the others wait for it under a file lock, then share it)."""
    import fcntl
    import shutil

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above the workers' own
    root = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "made").exists():
            shutil.rmtree(root, ignore_errors=True)
            make(copy_workflow(root / "work"))
            (root / "made").touch()
    return root / "work"


def _run_rhm_smoke(work: Path) -> None:
    run_snakemake(work, "-c2", configfile=[SMOKE, RHM_ONLY])
    run_snakemake(work, "--report", "report.html", configfile=[SMOKE, RHM_ONLY])


@pytest.fixture(scope="session")
def rhm_smoke(tmp_path_factory) -> Path:
    """The smoke preset's RHM branch run once with ``-c2`` in a copy of the workflow, then its
    report: what tests/test_workflow_rhm.py inspects, the local reference that
    tests/test_slurm.py compares its SLURM run with, and the results the README's run of it
    starts from (tests/test_docs.py). Read it, never change it: the workers share it."""
    return made_once(tmp_path_factory, "rhm-smoke", _run_rhm_smoke)


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
    def finished_shards() -> set[str]:
        """Sweep shards all of whose outputs (table, CSV, sidecar) snakemake counts as finished:
        a kill between its first record and its last cleared marker makes the job incomplete."""
        names = finished_outputs(work)
        return {name[: -len(".parquet")] for name in names
                if "/sweep/" in name and name.endswith(".parquet")
                and {name[: -len(".parquet")] + ext for ext in (".csv", ".meta.json")} <= names}

    try:
        deadline = time.monotonic() + 300
        while not finished_shards():
            assert proc.poll() is None, "snakemake ended before any shard was finished"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = {work / (stem + ext): (work / (stem + ext)).stat().st_mtime_ns
            for stem in finished_shards() for ext in (".parquet", ".csv", ".meta.json")}
    run_snakemake(work, "--unlock", configfile=files)
    plan = planned_jobs(run_snakemake(work, "-n", "--rerun-incomplete", *RHM_L2_TABLES,
                                      configfile=files).stdout)
    run_snakemake(work, "-c1", "--rerun-incomplete", *RHM_L2_TABLES, configfile=files)
    return {"work": work, "done": done, "plan": plan}


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    """A fresh copy of the workflow in a temporary directory."""
    return copy_workflow(tmp_path / "work")

