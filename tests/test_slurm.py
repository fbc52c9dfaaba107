"""The workflow on a real SLURM: the smoke preset's RHM branch submitted with the slurm profile.

``slurm_cluster`` (tests/slurm_cluster.py) starts a single-node SLURM from Debian's packages; it
skips, saying why, where that is impossible, and fails instead under ``HIERPHASE_REQUIRE_SLURM=1``
(``.ci/run``). One module-wide SLURM run of the smoke preset is checked against SLURM's own job
records and against the session's local run of it (``rhm_smoke`` in conftest.py, made while the
SLURM run waits), and so is a failing job run in a copy of that local run; then a partial rerun
in the SLURM run's copy.
The profile is the repository's, with only its partition line changed, as a user would.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from workflow_helpers import (REPO, RHM_ONLY, SMOKE, copy_workflow, planned_jobs,
                              snakemake_command, snakemake_env, table_bytes)
from slurm_cluster import SlurmCluster, SlurmUnavailable, slurm_cluster  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = "workflow/profiles/slurm/config.yaml"
# The test cluster has no slurmdbd: ask squeue for job states (its MinJobAge keeps finished jobs
# listed for 10 minutes), no account, and first status check after 1 s rather than 40 s.
TEST_CLUSTER_ARGS = ("--slurm-status-command", "squeue", "--slurm-no-account",
                     "--slurm-init-seconds-before-status-checks", "1")
RUN_TIMEOUT = 420
#: The groups of the profile (its `groups`), which name the SLURM log folders of group jobs.
PROFILE_GROUPS = sorted(set(yaml.safe_load((REPO / PROFILE).read_text())["groups"].values()))
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)?\.?$", re.M)


def _profile(work: Path, partition: str) -> Path:
    """The repository's slurm profile with its one partition line set to ``partition``."""
    text = (work / PROFILE).read_text()
    lines = [ln for ln in text.splitlines() if re.match(r"\s+slurm_partition:", ln)]
    assert len(lines) == 1, f"the profile should name the partition in exactly one place: {lines}"
    text = text.replace(lines[0], re.sub(r":.*", f': "{partition}"', lines[0]))
    dest = work / "profile-under-test"
    dest.mkdir()
    (dest / "config.yaml").write_text(text)
    return dest


def _configs(work: Path, **extra) -> list[str]:
    """The smoke preset with learned and images off (as ``rhm_smoke`` runs it), plus ``extra``
    files (name -> dict)."""
    files = [SMOKE, RHM_ONLY]
    for name, content in extra.items():
        (work / f"{name}.yaml").write_text(yaml.safe_dump(content))
        files.append(f"{name}.yaml")
    return files


def _submitted(output: str) -> list[tuple[str, str, str]]:
    """(rule, wildcard values, SLURM job id) of every job snakemake submitted, from its log; a
    group job (the profile's ``groups``) as ("group:<group>", "", id)."""
    jobs = []
    for jobid, log in SUBMITTED.findall(output):
        parts = Path(log).parts
        i = parts.index("slurm_logs")
        kind = parts[i + 1]
        if kind.startswith("group_"):  # group_<group>_<its rules>, as Snakemake names a group job
            group = [g for g in PROFILE_GROUPS if kind.startswith(f"group_{g}_")]
            assert len(group) == 1, f"{kind}: not one of the profile's groups {PROFILE_GROUPS}"
            name = f"group:{group[0]}"
        else:
            name = kind.removeprefix("rule_")
        jobs.append((name, "/".join(parts[i + 2:-1]), jobid))
    return jobs


def _expected_submissions(jobs: dict[str, int], settings: dict) -> dict[str, int]:
    """Submissions per rule (or ``group:<group>``) that the profile ``settings`` make of ``jobs``
    (rule -> jobs that leave the submitting node): a group's jobs, of every rule in it, go in
    batches of the group's ``group-components`` (each job its own connected component here, and
    the jobs of a group ready together: the population's replicas and widths have no inputs)."""
    groups, sizes = settings.get("groups", {}), settings.get("group-components", {})
    out: dict[str, int] = {}
    grouped: dict[str, int] = {}
    for rule, n in jobs.items():
        if rule in groups:
            grouped[groups[rule]] = grouped.get(groups[rule], 0) + n
        else:
            out[rule] = n
    for group, n in grouped.items():
        out[f"group:{group}"] = -(-n // sizes.get(group, 1))
    return out


def _job_stats(output: str) -> dict[str, int]:
    """Jobs per rule that snakemake planned before submitting anything (its "Job stats" table),
    without the local `all`."""
    block = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    stats = {}
    for line in block.splitlines()[3:]:
        name, _, count = line.strip().rpartition(" ")
        if name.strip() not in ("", "total", "all"):
            stats[name.strip()] = int(count)
    return stats


def _counts(jobs) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job[0]] = counts.get(job[0], 0) + 1
    return counts


def _local_jobs(output: str) -> list[str]:
    """Rules of the jobs snakemake ran itself (``localrules``: cheap stages), not through sbatch."""
    return [ln.strip()[len("localrule "):-1] for ln in output.splitlines()
            if ln.startswith("localrule ") and ln.rstrip().endswith(":")]


def _smoke_shards(work: Path) -> list[str]:
    """Wildcards (as the SLURM log directories spell them) of every sweep shard of the smoke
    preset: experiment x L x rule draw x process x grid block."""
    shards = []
    for name, exp in yaml.safe_load((work / SMOKE).read_text())["rhm"]["experiments"].items():
        for L in exp["L"]:
            for r in exp.get("rule_seeds", [0]):
                for process, blocks in exp["processes"].items():
                    shards += [f"{name}_{L}_{r}_{process}_{k}" for k in range(len(blocks))]
    return sorted(shards)


def _slurm_run(cluster: SlurmCluster, work: Path, profile: Path, files: list[str], *targets: str,
               check: bool = True, meanwhile=None):
    """Snakemake with the SLURM profile in ``work``; ``meanwhile()``, if given, runs while it waits
    on SLURM (its result is returned too). Returns (completed process, result of meanwhile)."""
    # the test node may have fewer cores than the profile lets one job ask for (its `cores`)
    cores = min(yaml.safe_load((profile / "config.yaml").read_text())["cores"],
                cluster.hardware["CPUs"])
    cmd = snakemake_command("--workflow-profile", str(profile), *TEST_CLUSTER_ARGS,
                            "--cores", str(cores), *targets, configfile=files)
    log = work / "snakemake-slurm.log"
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=snakemake_env(), stdout=out,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        other = meanwhile() if meanwhile is not None else None
        rc = proc.wait(timeout=max(1.0, RUN_TIMEOUT - (time.monotonic() - start)))
    except BaseException as exc:  # meanwhile failed, or SLURM ran past its time: stop, say why
        queue = subprocess.run(["squeue", "-o", "%i %T %r %j"], capture_output=True, text=True,
                               env=cluster.env).stdout
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if isinstance(exc, subprocess.TimeoutExpired):
            pytest.fail(f"snakemake on SLURM ran past {RUN_TIMEOUT}s; squeue:\n{queue}",
                        pytrace=False)
        raise
    output = log.read_text()
    if check and rc != 0:
        pytest.fail(f"snakemake on SLURM failed (exit {rc}): {' '.join(cmd)}\n{output[-6000:]}",
                    pytrace=False)
    return subprocess.CompletedProcess(cmd, rc, output), other


def _table_targets(work: Path) -> list[str]:
    """Every table the smoke preset's RHM branch ends in (the kept and theory tables, the change
    correlations' tables, the finite-size scaling's, the phase diagram's); the sweep, rule and
    data stages come with them."""
    targets = [f"results/rhm/correlations/{t}.parquet"
               for t in ("correlations", "susceptibility", "exponents", "lengths",
                         "level_exponents", "signature")]
    rhm = yaml.safe_load((work / SMOKE).read_text())["rhm"]
    for name, exp in rhm["experiments"].items():
        targets += [f"results/rhm/aggregate/{name}/kept.parquet",
                    f"results/rhm/theory/{name}/summary.parquet"]
        targets += [f"results/rhm/theory/{name}/L{L}.parquet" for L in exp["L"]]
    targets += [f"results/rhm/scaling/{name}/{t}.parquet"
                for name in rhm["finite_size_scaling"]["experiments"] for t in ("scaling", "points")]
    if rhm["phase_diagram"]["enabled"]:
        targets.append("results/rhm/phase_diagram/phase_diagram.parquet")
    if rhm.get("population") and rhm["population"].get("enabled", True):
        targets += [f"results/rhm/critical/{t}.parquet"
                    for t in ("population", "estimates", "same_rules")]
    if rhm.get("depth_estimate") and rhm["depth_estimate"].get("enabled", True):
        targets += [f"results/rhm/depth/{t}.parquet" for t in ("estimates", "calibration")]
    return targets


SHARD = "results/rhm/sweep/main/L2/rules0/gaussian/shard0"
SHARD_LOG = "logs/rhm/sweep/main/L2/rules0/gaussian/shard0.log"
TREES = "results/rhm/data/main/L2/rules0/trees.pt"


def _failing_run(cluster: SlurmCluster, finished: Path, dest: Path, profile: Path, meanwhile=None):
    """In a copy ``dest`` of the finished smoke run ``finished`` (results and snakemake's records
    included), rerun the finished shard ``SHARD`` through SLURM after truncating its input, the
    clean data of L = 2 (as a full disk or a copy cut short would): the config is valid, so only
    the job finds it, fails on SLURM with the loader's message naming the file, is retried once
    (the profile's ``retries``) with the resources of a second attempt, and fails again. Returns
    (dest, completed process, result of ``meanwhile``)."""
    assert (finished / f"{SHARD}.parquet").exists()
    shutil.copytree(finished, dest, symlinks=True)
    trees = dest / TREES
    trees.write_bytes(trees.read_bytes()[: trees.stat().st_size // 2])
    files = _configs(dest)
    proc, other = _slurm_run(cluster, dest, profile, files, f"{SHARD}.parquet",
                             check=False, meanwhile=meanwhile)
    return dest, proc, other


@pytest.fixture(scope="module")
def smoke_on_slurm(slurm_cluster, request, tmp_path_factory):
    """The smoke preset's RHM branch up to its tables (the figures are cheap local rules), run
    once through SLURM. Meanwhile (filling the SLURM run's waits for status checks) the session's
    local runs of the same branch (conftest.py) are made or found: ``rhm_smoke``, the reference
    here, then, while a failing SLURM run in a copy of it (``_failing_run``) waits in turn,
    ``rhm_killed_and_resumed``, which tests/test_workflow_rhm.py checks. What was submitted,
    what it made, the local tables and the failing run."""
    work = copy_workflow(tmp_path_factory.mktemp("slurm") / "work")
    files = _configs(work)
    profile = _profile(work, slurm_cluster.partition)
    start = time.monotonic()

    def local_runs():
        local = request.getfixturevalue("rhm_smoke")
        dest = tmp_path_factory.mktemp("slurm-failing") / "work"

        def resumed():  # for tests/test_workflow_rhm.py
            return request.getfixturevalue("rhm_killed_and_resumed")

        failing, proc, _ = _failing_run(slurm_cluster, local, dest, profile, meanwhile=resumed)
        return local, (failing, proc)

    proc, (local, failing) = _slurm_run(slurm_cluster, work, profile, files,
                                        *_table_targets(work), meanwhile=local_runs)
    return {"work": work, "files": files, "profile": profile, "output": proc.stdout,
            "seconds": time.monotonic() - start, "tables": table_bytes(work),
            "local_tables": table_bytes(local), "failing": failing}


def test_unavailable_slurm_says_why(monkeypatch):
    """Without the binaries the helper names what is missing and how to install it."""
    monkeypatch.setattr("shutil.which",
                        lambda name, path=None: None if name == "slurmd" else f"/x/{name}")
    monkeypatch.setattr("os.geteuid", lambda: 0)
    with pytest.raises(SlurmUnavailable, match=r"missing slurmd \(Debian packages slurmd\); "
                                                r"install them with .*install-slurm\.sh"):
        SlurmCluster()._preflight()


def test_smoke_runs_through_sbatch_and_matches_local(smoke_on_slurm, slurm_cluster):
    run = smoke_on_slurm
    work = run["work"]
    submitted = _submitted(run["output"])
    print(f"SLURM run: {len(submitted)} sbatch jobs in {run['seconds']:.0f}s")
    # every sweep shard went to sbatch, once; every other planned job is a cheap local rule, run
    # by snakemake itself within the profile's local-cores
    settings = yaml.safe_load((run["profile"] / "config.yaml").read_text())
    assert 1 <= settings["local-cores"] <= 2 and settings["retries"] >= 1
    assert _local_jobs(run["output"]), "no local rule ran"
    assert sorted(w for rule, w, _ in submitted if rule == "rhm_sweep") == _smoke_shards(work)
    # the heavy rules: kept sweeps, correlation sweeps, the controls' shards, exact BP against
    # the population RHM by RHM, the population dynamics' replicas and the phase diagram's sweeps
    # (these two small, one job per replica or per point and rule draw: batched by the profile's
    # groups)
    assert {rule for rule, _, _ in submitted} == {"rhm_sweep", "rhm_corr_sweep",
                                                  "rhm_corr_control", "rhm_same_rules",
                                                  "group:rhm_population", "group:rhm_phase"}
    local = _counts([(r,) for r in _local_jobs(run["output"])])
    stats = _job_stats(run["output"])
    remote = {r: n - local.get(r, 0) for r, n in stats.items() if n - local.get(r, 0)}
    assert _expected_submissions(remote, settings) == _counts(submitted)
    ids = [jobid for _, _, jobid in submitted]
    assert len(set(ids)) == len(ids)
    # SLURM's own completion records: each of those ids ran to COMPLETED in the profile's partition,
    # in the workflow copy, under the run's job name
    records = {r["JobId"]: r for r in slurm_cluster.jobs()}
    for rule, wildcards, jobid in submitted:
        record = records.get(jobid)
        assert record is not None, f"SLURM has no record of job {jobid} ({rule} {wildcards})"
        assert record["JobState"] == "COMPLETED", record
        assert record["Partition"] == slurm_cluster.partition
        assert Path(record["WorkDir"]) == run["work"]
    assert len({records[j]["Name"] for j in ids}) == 1

    # the same preset run locally gives byte-identical tables
    local_tables = run["local_tables"]
    assert sum(p.endswith(".parquet") for p in local_tables) >= 10  # 6 shards, kept, 3 theory
    assert sorted(local_tables) == sorted(run["tables"])
    differ = [p for p in local_tables if local_tables[p] != run["tables"][p]]
    assert not differ, f"tables differ between SLURM and local runs: {differ}"


def test_partial_rerun_submits_only_the_changed_jobs(smoke_on_slurm, slurm_cluster):
    """A coarser masking grid for the experiment: its tables resubmit the masking shards (one per
    depth) to SLURM and rebuild the kept table that pools them, the finite-size scaling that
    reads it and the critical-point table that reads that (local rules), and the check of exact
    BP against the population, which reads the kept table (submitted), nothing else. (Its tables, not `all`: the figures that read the kept
    table would rerun too, at 6 more jobs of CI time.)"""
    run = smoke_on_slurm
    work, profile = run["work"], run["profile"]
    masking = [{"start": 0.0, "stop": 1.0, "num": 3}]
    files = _configs(work, rerun={"rhm": {"experiments": {"main": {"processes": {
        "masking": masking}}}}})
    before = len(slurm_cluster.jobs())
    start = time.monotonic()
    proc, _ = _slurm_run(slurm_cluster, work, profile, files, *_table_targets(work))
    submitted = _submitted(proc.stdout)
    print(f"partial rerun: {len(submitted)} sbatch jobs in {time.monotonic() - start:.0f}s: "
          f"{[(r, w) for r, w, _ in submitted]}")
    depths = yaml.safe_load((work / SMOKE).read_text())["rhm"]["experiments"]["main"]["L"]
    assert sorted(w for rule, w, _ in submitted if rule == "rhm_sweep") == sorted(
        f"main_{L}_0_masking_0" for L in depths)
    assert _counts(submitted) == {"rhm_sweep": len(depths), "rhm_same_rules": 1}
    assert _counts(planned_jobs(proc.stdout)) == {"rhm_sweep": len(depths), "rhm_aggregate": 1,
                                                  "rhm_scaling": 1, "rhm_critical": 1,
                                                  "rhm_same_rules": 1}
    assert sorted(_local_jobs(proc.stdout)) == ["rhm_aggregate", "rhm_critical", "rhm_scaling"]
    assert len(slurm_cluster.jobs()) - before == len(submitted)
    # the other shards' tables are untouched
    tables = table_bytes(work)
    for path, data in run["tables"].items():
        if "/sweep/" in path and "/masking/" not in path:
            assert tables[path] == data, path


def _memory_mb(record: dict[str, str]) -> int:
    """The memory a finished job asked for, in MB, from its trackable resources (``mem=4000M``)."""
    amount, unit = re.search(r"(?:^|,)mem=(\d+)([MGT])", record["Tres"]).groups()
    return int(amount) * {"M": 1, "G": 1024, "T": 1024 ** 2}[unit]


def test_failing_job_is_retried_with_more_memory_then_fails_with_its_log_and_no_output(
        smoke_on_slurm, slurm_cluster):
    work, proc = smoke_on_slurm["failing"]
    out = proc.stdout
    assert proc.returncode != 0, out[-3000:]
    submitted = _submitted(out)
    # the profile's one retry: the same job submitted twice, the second time with the resources
    # of attempt 2 (heavy rules ask for their base memory and run time times the attempt)
    assert [rule for rule, _, _ in submitted] == ["rhm_sweep", "rhm_sweep"], out[-3000:]
    assert submitted[0][1] == submitted[1][1]
    records = {r["JobId"]: r for r in slurm_cluster.jobs()}
    first, retry = (records[jobid] for _, _, jobid in submitted)
    assert first["JobState"] == retry["JobState"] == "FAILED", (first, retry)
    print(f"retry: mem {_memory_mb(first)} -> {_memory_mb(retry)} MB, "
          f"time limit {first['TimeLimit']} -> {retry['TimeLimit']} min")
    assert _memory_mb(retry) == 2 * _memory_mb(first), (first["Tres"], retry["Tres"])
    assert int(retry["TimeLimit"]) == 2 * int(first["TimeLimit"]), \
        (first["TimeLimit"], retry["TimeLimit"])
    assert "Error in rule rhm_sweep" in out
    assert SHARD_LOG in out, f"the rule's log path is not shown:\n{out[-3000:]}"
    log = (work / SHARD_LOG).read_text()
    assert f"{TREES}: cannot be read" in log and "corrupt or truncated, delete it and rerun" in log
    # the job's declared outputs (the old ones included) are gone, and nothing half-written
    # (atomic writes' temporary files) is left next to them
    # (the previous run's sidecar too: it is a declared output of the rule)
    for suffix in (".parquet", ".csv", ".meta.json"):
        assert not (work / f"{SHARD}{suffix}").exists(), suffix
    folder = (work / SHARD).parent
    strays = [p.name for p in folder.iterdir() if p.name.startswith("shard0")] if folder.exists() else []
    assert strays == [], strays
