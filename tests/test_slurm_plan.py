"""The SLURM profile's plan, without a cluster: what the paper preset would submit (measured by
Snakemake in a dry run, tests/submissions.py), which partition every job goes to, and the refusal
to start while the profile's partition is its placeholder. The profile is the repository's with
its partition lines filled in as docs/cluster.md shows; tests/test_slurm.py runs it on a real
SLURM."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.resources import Resources
from submissions import by_kind, planned_submissions
from workflow_helpers import REPO, RHM_ONLY, SMOKE, copy_workflow, snakemake_command, snakemake_env

from hierphase.plan.workflow import check_cluster_settings, gpu_resources

PROFILE = "workflow/profiles/slurm/config.yaml"
PAPER = "workflow/presets/paper.yaml"
#: The most sbatch jobs the paper preset may make on the SLURM profile.
MAX_SUBMISSIONS = 400


def _fill_in(work: Path, cpu: str = "cpu", gpu: str | None = "gpu") -> None:
    """Set the profile's partition and, with ``gpu``, uncomment its GPU partition, as a user
    does (docs/cluster.md)."""
    path = work / PROFILE
    text = path.read_text().replace('slurm_partition: "your-partition"',
                                    f'slurm_partition: "{cpu}"')
    if gpu is not None:
        text = text.replace('# gpu_partition: "your-gpu-partition"', f'gpu_partition: "{gpu}"')
    path.write_text(text)


def _gpu_scripts() -> set[str]:
    """Rules whose scripts start with the GPU check (jobs.start_device_job, which runs
    jobs.check_gpus)."""
    return {p.stem for p in (REPO / "workflow/scripts").glob("*.py")
            if "jobs.start_device_job(snakemake" in p.read_text()}


def _workflow(**defaults) -> SimpleNamespace:
    """The part of Snakemake's workflow object the planner reads: the default resources, parsed
    by Snakemake from ``name=value`` as the profile's ``default-resources`` are."""
    parsed = Resources.parse([f"{k}={v}" for k, v in defaults.items()], allow_expressions=True,
                             defaults="full")
    return SimpleNamespace(resource_settings=SimpleNamespace(default_resources=parsed))


def test_gpu_rules_go_to_the_gpu_partition_when_the_profile_names_one():
    both = _workflow(slurm_partition="cpu", gpu_partition="'gpu-a100'")
    assert gpu_resources(both, 1) == {"gpu": 1, "slurm_partition": "gpu-a100"}
    assert gpu_resources(both, 0) == {"gpu": 0}
    assert gpu_resources(_workflow(slurm_partition="cpu"), 1) == {"gpu": 1}
    assert gpu_resources(SimpleNamespace(resource_settings=SimpleNamespace(
        default_resources=None)), 2) == {"gpu": 2}
    for bad in (-1, 1.0, True, "1"):
        with pytest.raises(ValueError, match="gpus"):
            gpu_resources(both, bad)


def test_placeholder_settings_are_refused_by_name():
    check_cluster_settings(_workflow(slurm_partition="cpu", gpu_partition="gpu"))
    check_cluster_settings(_workflow(mem_mb=2000))
    for name, value in (("slurm_partition", "your-partition"),
                        ("gpu_partition", "your-gpu-partition"),
                        ("slurm_account", "'your-account'")):
        wf = _workflow(**{"slurm_partition": "cpu", name: value})
        with pytest.raises(WorkflowError, match=rf"default-resources: {name} is still the "
                                                rf"placeholder 'your-"):
            check_cluster_settings(wf)


def test_every_gpu_rule_checks_its_gpu():
    """The rules that take their `gpu` resource from gpu_resources() are exactly those whose
    scripts begin with the GPU check."""
    tagged = set()
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for block in re.split(r"\n(?=rule |    rule )", smk.read_text()):
            name = re.match(r"\s*rule (\w+):", block)
            if name and "gpu_resources(" in block:
                script = re.search(r'"\.\./scripts/(\w+)\.py"', block)
                assert script and script.group(1) == name.group(1), name.group(1)
                tagged.add(name.group(1))
    assert len(tagged) == 17
    assert tagged == _gpu_scripts()


@pytest.mark.slow
def test_paper_preset_plans_at_most_400_submissions(tmp_path):
    """The paper preset on the SLURM profile: at most 400 sbatch jobs (1,064 before the profile
    grouped its small jobs), each GPU job (alone or in a group) asking for one GPU in the GPU
    partition, every other in the CPU partition, no group larger than its group-components."""
    work = copy_workflow(tmp_path / "work")
    _fill_in(work)
    subs = planned_submissions(work, "--workflow-profile", "workflow/profiles/slurm",
                               "--configfile", PAPER, env=snakemake_env())
    kinds = by_kind(subs)
    print(f"paper preset on the SLURM profile: {len(subs)} submissions: {dict(kinds)}")
    assert len(subs) <= MAX_SUBMISSIONS
    settings = yaml.safe_load((work / PROFILE).read_text())
    assert settings["keep-going"] is True
    # the GPU rules of the branches the paper preset runs (it leaves some, e.g. mdlm, off)
    off = {name for name, section in yaml.safe_load((work / PAPER).read_text()).items()
           if isinstance(section, dict) and section.get("enabled") is False}
    gpu_rules = {rule for rule in _gpu_scripts() if rule.split("_")[0] not in off}
    seen_gpu = set()
    for sub in subs:
        rules = sub.get("rules", [sub.get("rule")])
        res = sub["resources"]
        assert res["_cores"] <= settings["cores"], sub
        if "group" in sub:
            assert len(rules) <= 2 * settings["group-components"][sub["group"]], sub
        if set(rules) & gpu_rules:
            assert set(rules) <= gpu_rules, sub  # no group mixes kinds
            assert res["gpu"] == 1 and res["slurm_partition"] == "gpu", sub
            # a group of GPU jobs runs them one after the other: at most 12 h asked for
            assert res["runtime"] <= 720, sub
            seen_gpu |= set(rules)
        else:
            assert not res.get("gpu") and res["slurm_partition"] == "cpu", sub
    assert seen_gpu == gpu_rules  # the paper preset runs every GPU rule on a GPU
    # the tiny per-point jobs travel in groups, never alone
    assert not {"learned_curve_point", "rhm_phase_sweep"} & set(kinds)


@pytest.mark.slow
def test_a_run_with_the_placeholder_partition_submits_nothing(tmp_path):
    """The documented command, run (not dry) before the partition is set: refused before any
    job, naming the setting; the dry run (-n) of the same command still shows the plan."""
    work = copy_workflow(tmp_path / "work")
    cmd = snakemake_command("--workflow-profile", "workflow/profiles/slurm",
                            configfile=[SMOKE, RHM_ONLY])
    proc = subprocess.run(cmd, cwd=work, env=snakemake_env(), capture_output=True, text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "default-resources: slurm_partition is still the placeholder 'your-partition'" in out
    assert "has been submitted" not in out and not (work / ".snakemake/slurm_logs").exists()
    assert not (work / "results").exists()
    dry = subprocess.run(cmd + ["-n"], cwd=work, env=snakemake_env(), capture_output=True,
                         text=True, timeout=600)
    assert dry.returncode == 0 and "rhm_sweep" in dry.stdout + dry.stderr


def test_local_runs_drop_the_job_rate_limit_and_cluster_runs_keep_it():
    """A local run schedules when jobs finish, without the rate limiter whose wake-up timers pile
    up; a run whose jobs go to a cluster (nodes set) keeps its profile's limit."""
    from snakemake.scheduling.job_scheduler import JobRateLimiter
    from snakemake.settings.types import MaxJobsPerTimespan

    from hierphase.plan.workflow import drop_local_rate_limit

    def workflow(nodes):
        limiter = JobRateLimiter(MaxJobsPerTimespan.parse_choice("100/1s"))
        return SimpleNamespace(resource_settings=SimpleNamespace(nodes=nodes),
                               is_main_process=True,
                               scheduler=SimpleNamespace(job_rate_limiter=limiter))

    local, cluster = workflow(None), workflow(100)
    drop_local_rate_limit(local)
    drop_local_rate_limit(cluster)
    assert local.scheduler.job_rate_limiter is None
    assert cluster.scheduler.job_rate_limiter.max_jobs == 100
    drop_local_rate_limit(SimpleNamespace(resource_settings=SimpleNamespace(nodes=None),
                                          is_main_process=True))  # no scheduler: a dry run
