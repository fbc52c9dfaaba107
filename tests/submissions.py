"""What a cluster run would submit, measured by Snakemake itself in a dry run.

A dry run (``snakemake -n``) plans the same jobs and forms the same group jobs (``groups``,
``group-components`` of a profile) as a cluster run, but runs every job through its dry-run
executor and does not print which jobs would stay local. This module runs Snakemake's own command
line with that executor wrapped: every job it is handed is recorded as one submission when it is a
group job, or a job of a rule that is not local (``localrules``, ``localrule: True``, rules with
nothing to run), which is the test Snakemake applies before handing a job to a cluster executor
(``Workflow.is_local`` with cluster execution). Two settings of a dry run differ from a cluster
run's, and are put back: a dry run counts one core (``--cores 1``: it scales every rule's threads
down to 1 and makes the layers of a group job one job wide), where a cluster run takes the
profile's ``cores`` or no limit (here ``--cores`` is given as the profile's, else
``UNLIMITED_CORES``); and it sums a group's resources over its
layers as for a local run, where a cluster run asks for the largest layer (the group's resources
are recomputed here as Snakemake's ``GroupJob.resources`` does under a cluster executor). Used by
tests/test_slurm_plan.py; standalone, it prints the count per rule and group:

    python tests/submissions.py --workflow-profile workflow/profiles/slurm \\
        --configfile workflow/presets/paper.yaml
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

#: ``--cores`` for the dry run: no rule's threads and no group's width reach it, as none is limited
#: under a cluster executor.
UNLIMITED_CORES = 1_000_000
#: Run in a fresh interpreter (``python -c``) with Snakemake's arguments; prints one JSON line.
_RECORDER = r"""
import json, sys
from snakemake import cli
from snakemake.executors import dryrun
from snakemake.resources import GroupResources

submitted = []
_run_job = dryrun.Executor.run_job

def _is_local(workflow, rule):
    # Workflow.is_local without its first clause (local_exec, true for the dry-run executor)
    return rule.group is None and (rule.name in workflow._localrules or rule.norun
                                   or rule.is_template_engine)

def run_job(self, job):
    if job.is_group():
        # GroupJob.resources with run_local=False, as under a cluster executor
        resources = GroupResources.basic_layered(
            toposorted_jobs=job.toposorted, constraints=self.workflow.global_resources,
            run_local=False, additive_resources=["runtime"], sortby=["runtime"])
        submitted.append({"group": job.groupid, "rules": sorted(j.rule.name for j in job.jobs),
                          "resources": {k: v for k, v in resources.items()
                                        if isinstance(v, (int, str))}})
    elif not _is_local(self.workflow, job.rule):
        submitted.append({"rule": job.rule.name,
                          "resources": {k: v for k, v in job.resources.items()
                                        if isinstance(v, (int, str))}})
    return _run_job(self, job)

dryrun.Executor.run_job = run_job
try:
    cli.main(["--dry-run", "--quiet", "rules", "--cores", __CORES__, *sys.argv[1:]])
except SystemExit as e:
    if e.code:
        raise
print("SUBMISSIONS " + json.dumps(submitted, default=str))
"""


def _profile_cores(workdir: str | Path, args) -> int:
    """``cores`` of the ``--workflow-profile`` among ``args`` (a cluster run's limit per job), else
    ``UNLIMITED_CORES``."""
    import yaml

    args = [str(a) for a in args]
    for flag, value in zip(args, args[1:]):
        if flag in ("--workflow-profile", "--profile"):
            path = Path(workdir) / value / "config.yaml"
            cores = (yaml.safe_load(path.read_text()) or {}).get("cores") if path.exists() else None
            if cores is not None:
                return int(cores)
    return UNLIMITED_CORES


def planned_submissions(workdir: str | Path, *args: str, env: dict | None = None,
                        timeout: float = 900) -> list[dict]:
    """The submissions a cluster run of ``snakemake ARGS`` in ``workdir`` would make: one dict per
    sbatch job, ``{"group": id, "rules": [...], "resources": {...}}`` for a group job and
    ``{"rule": name, "resources": {...}}`` for a job of its own. Raises RuntimeError with
    Snakemake's output when the dry run fails."""
    code = _RECORDER.replace("__CORES__", repr(str(_profile_cores(workdir, args))))
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=workdir,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUBMISSIONS ")]
    if proc.returncode != 0 or not marker:
        raise RuntimeError(f"dry run failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}")
    return json.loads(marker[-1][len("SUBMISSIONS "):])


def by_kind(submissions: list[dict]) -> Counter:
    """Submissions per rule (jobs of their own) and per ``group:<id>`` (group jobs)."""
    return Counter(f"group:{s['group']}" if "group" in s else s["rule"] for s in submissions)


if __name__ == "__main__":
    subs = planned_submissions(Path.cwd(), *sys.argv[1:])
    for name, n in sorted(by_kind(subs).items()):
        print(f"{n:6d}  {name}")
    print(f"{len(subs):6d}  submissions in all")
