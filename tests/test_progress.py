"""python -m hierphase.progress: jobs done and to go from two dry runs, the time left from the
done jobs' benchmark files. Checked on synthetic dry-run outputs and benchmark folders against
sums made here, and once end to end on a small workflow of its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from workflow_helpers import snakemake_command, snakemake_env

from hierphase import progress as pg

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _block(rule: str, output: str, benchmark: str | None = None, indent: str = "") -> str:
    """One job as ``snakemake --dry-run`` prints it."""
    lines = [f"{indent}[Sun Dec  6 09:58:22 2026]", f"{indent}rule {rule}:",
             f"{indent}    input: results/x.pt", f"{indent}    output: {output}",
             f"{indent}    log: logs/{rule}.log", f"{indent}    jobid: 7"]
    if benchmark:
        lines.append(f"{indent}    benchmark: {benchmark}")
    lines += [f"{indent}    reason: Missing output files: {output}",
              f"{indent}    resources: tmpdir=/tmp, mem_mb=4000, runtime=60", ""]
    return "\n".join(lines) + "\n"


def _bench(root, path: str, *seconds: float) -> None:
    file = root / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(HEADER + "".join(f"{s}\t0:00:{int(s):02d}\t100\t200\t90\t95\t0\t0\t99\t{s}\n"
                                     for s in seconds))


@pytest.fixture
def run(tmp_path):
    """A run of 10 training jobs (6 done, benchmarked at 100..600 s; one of them without its
    file), 20 sweep points in groups (none done), 1 table (local, no benchmark)."""
    train = [(f"results/train/m{i}.pt", f"logs/benchmarks/train/m{i}.tsv") for i in range(10)]
    sweep = [(f"results/sweep/p{i}.parquet", f"logs/benchmarks/sweep/p{i}.tsv") for i in range(20)]
    for i in range(5):
        _bench(tmp_path, train[i][1], 100.0 * (i + 1))
    _bench(tmp_path, train[9][1], 50.0, 70.0)  # a repeated benchmark: mean 60; still to go
    every = "Building DAG of jobs...\nJob stats:\n...\n"
    every += "".join(_block("train", o, b) for o, b in train)
    every += "Group job sweeps (jobs in lexicogr. order):\n\n"
    every += "".join(_block("sweep", o, b, indent="    ") for o, b in sweep)
    every += _block("table", "results/table.parquet") + "localrule all:\n    input: x\n"
    pending = "".join(_block("train", o, b) for o, b in train[6:]) \
        + "".join(_block("sweep", o, b, indent="    ") for o, b in sweep) \
        + _block("table", "results/table.parquet") + "localrule all:\n    input: x\n"
    return tmp_path, every, pending


def test_parse_dry_run_finds_every_job(run):
    _, every, _ = run
    jobs = pg.parse_dry_run(every)
    assert [j.rule for j in jobs] == ["train"] * 10 + ["sweep"] * 20 + ["table", "all"]
    assert jobs[3] == pg.Job("train", "results/train/m3.pt", "logs/benchmarks/train/m3.tsv")
    assert jobs[-2].benchmark is None
    with pytest.raises(TypeError, match="text"):
        pg.parse_dry_run(None)


def test_estimate_against_sums_made_here(run):
    root, every, pending = run
    p = pg.estimate(pg.parse_dry_run(every), pg.parse_dry_run(pending), root)
    assert (p.n_done, p.total) == (6, 32)
    assert p.done == {"train": 6}
    assert p.to_go == {"train": 4, "sweep": 20, "table": 1, "all": 1}
    # done trainings measured: 100..500 s (m5 has no file); m9's file is not a done job's
    assert p.measured == 5 and p.seconds == {"train": 300.0}
    assert p.seconds_to_go == 4 * 300.0
    assert p.unmeasured == {"sweep": 20, "table": 1, "all": 1}
    assert p.eta(1) == 1200.0 and p.eta(2) == 600.0
    assert p.eta(100) == 300.0  # never less than one job
    with pytest.raises(ValueError, match="parallel"):
        p.eta(0)
    text = pg.report(p, 2)
    print(text)
    assert text.splitlines()[0] == "6/32 jobs done (19%), 26 to go"
    assert "job time to go: 0:20:00 (from 5 benchmarks of done jobs)" in text
    assert "not counted: 22 jobs of rules with no benchmark of a done job yet (all, sweep, " \
        "table)" in text
    assert text.splitlines()[-1] == "time left at 2 jobs at once: about 0:10:00"


def test_benchmark_files_that_are_not_tables(tmp_path):
    (tmp_path / "empty.tsv").write_text("")
    (tmp_path / "bad.tsv").write_text("s\th:m:s\nabc\t0:00:01\n")
    assert pg.benchmark_seconds(tmp_path / "missing.tsv") is None
    assert pg.benchmark_seconds(tmp_path / "empty.tsv") is None
    assert pg.benchmark_seconds(tmp_path / "bad.tsv") is None
    _bench(tmp_path, "ok.tsv", 1.5, 2.5)
    assert pg.benchmark_seconds(tmp_path / "ok.tsv") == 2.0


def test_jobs_at_once_from_the_arguments_or_the_profile(tmp_path):
    profile = tmp_path / "prof"
    profile.mkdir()
    (profile / "config.yaml").write_text("executor: slurm\njobs: 100\n")
    assert pg._profile_parallel(["--workflow-profile", str(profile)]) == 100
    assert pg._profile_parallel(["--workflow-profile", str(profile), "-j", "7"]) == 7
    assert pg._profile_parallel(["--configfile", "x.yaml"]) is None


SNAKEFILE = """
rule all:
    input: expand("out/{i}.txt", i=range(4)), "out/sum.txt"

rule work:
    output: "out/{i}.txt"
    benchmark: "logs/benchmarks/work/{i}.tsv"
    shell: "sleep 1; echo {wildcards.i} > {output}"

rule total:
    input: expand("out/{i}.txt", i=range(4))
    output: "out/sum.txt"
    shell: "cat {input} > {output}"
"""


@pytest.mark.slow
def test_progress_of_a_half_done_run(tmp_path):
    """A small workflow with two of its four benchmarked jobs run: 2 of 6 jobs done, and the time
    left is the two jobs to go at the measured mean."""
    (tmp_path / "Snakefile").write_text(textwrap.dedent(SNAKEFILE))
    env = snakemake_env()
    subprocess.run(snakemake_command("-c1", "out/0.txt", "out/1.txt"), cwd=tmp_path, env=env,
                   check=True, capture_output=True, timeout=300)
    measured = [pg.benchmark_seconds(tmp_path / f"logs/benchmarks/work/{i}.tsv") for i in (0, 1)]
    proc = subprocess.run([sys.executable, "-m", "hierphase.progress", "-c1"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == "2/6 jobs done (33%), 4 to go"
    mean = sum(measured) / 2
    assert mean >= 1.0
    assert f"job time to go: {pg._duration(2 * mean)} (from 2 benchmarks" in proc.stdout
    assert lines[-1] == f"time left at 1 jobs at once: about {pg._duration(2 * mean)}"
    assert "(all, total)" in proc.stdout
