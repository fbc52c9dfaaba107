"""How far a run has got and how long the rest will take, from Snakemake's own plan and the jobs'
recorded benchmarks.

    python -m hierphase.progress --configfile workflow/presets/paper.yaml \\
        --workflow-profile workflow/profiles/slurm

Everything after the options below is handed to two dry runs of Snakemake (the same arguments as
the run): ``snakemake --dry-run --forceall`` lists every job of the run, ``snakemake --dry-run``
the jobs still to do (running ones included). The jobs of the first that are not in the second
are done. Every rule that goes to the cluster records its wall time in a benchmark file
(``benchmark:``, under ``logs/benchmarks/``); the mean over a rule's done jobs, times its jobs to
go, is its time left, and the sum over rules divided by the jobs that run at once (``--jobs-at-once``,
else the ``jobs`` or ``cores`` of the arguments or of the profile) is the estimate of the time left. Rules with no benchmark yet
(the cheap local rules, or a rule none of whose jobs has finished) are counted apart. Reads files
and runs Snakemake; imports nothing heavy.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Job", "Progress", "parse_dry_run", "benchmark_seconds", "estimate", "report",
           "main"]

_JOB = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+):$")


@dataclass(frozen=True)
class Job:
    """One job of a dry run: its rule, its outputs (as Snakemake prints them: what tells two jobs
    of a rule apart) and its benchmark file, if the rule records one."""

    rule: str
    output: str = ""
    benchmark: str | None = None


def parse_dry_run(text: str) -> list[Job]:
    """Every job a dry run's output lists (``rule NAME:`` blocks, also inside group jobs), in
    order."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    jobs: list[dict] = []
    for line in text.splitlines():
        stripped = line.strip()
        match = _JOB.match(stripped)
        if match:
            jobs.append({"rule": match.group(1)})
        elif jobs and stripped.startswith(("output: ", "benchmark: ")):
            key, _, value = stripped.partition(": ")
            jobs[-1].setdefault(key, value.strip())
    return [Job(j["rule"], j.get("output", ""), j.get("benchmark")) for j in jobs]


def benchmark_seconds(path: str | os.PathLike) -> float | None:
    """The wall time (column ``s``, the mean over its repeats) a Snakemake benchmark file records;
    None when the file is missing, empty or not a benchmark table."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    values = []
    for row in rows:
        try:
            value = float(row.get("s") or "nan")
        except ValueError:
            return None
        if math.isfinite(value) and value >= 0:
            values.append(value)
    return sum(values) / len(values) if values else None


@dataclass
class Progress:
    """Jobs done and to go per rule, the measured seconds per job of each rule, and the estimate."""

    done: dict[str, int] = field(default_factory=dict)
    to_go: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # mean wall time of a done job
    measured: int = 0  # done jobs with a benchmark

    @property
    def total(self) -> int:
        return sum(self.done.values()) + sum(self.to_go.values())

    @property
    def n_done(self) -> int:
        return sum(self.done.values())

    @property
    def n_to_go(self) -> int:
        return sum(self.to_go.values())

    @property
    def seconds_to_go(self) -> float:
        """Job time left: the to-go jobs of every measured rule times its mean."""
        return sum(n * self.seconds[r] for r, n in self.to_go.items() if r in self.seconds)

    @property
    def unmeasured(self) -> dict[str, int]:
        """Jobs to go of the rules with no benchmark of a done job."""
        return {r: n for r, n in self.to_go.items() if r not in self.seconds and n}

    def eta(self, parallel: int) -> float:
        """Seconds left with ``parallel`` jobs at once: the job time left shared among them, and
        never less than the longest job to go."""
        if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
            raise ValueError(f"parallel must be a positive integer, got {parallel!r}")
        longest = max((self.seconds[r] for r, n in self.to_go.items()
                       if n and r in self.seconds), default=0.0)
        return max(self.seconds_to_go / parallel, longest)


def estimate(all_jobs: list[Job], pending: list[Job], root: str | os.PathLike = ".") -> Progress:
    """Progress of a run whose every job is ``all_jobs`` and whose jobs to go are ``pending``
    (dry runs with and without ``--forceall``), benchmark paths relative to ``root``."""
    root = Path(root)
    waiting = {(j.rule, j.output) for j in pending}
    progress = Progress()
    times: dict[str, list[float]] = {}
    for job in all_jobs:
        if (job.rule, job.output) in waiting:
            progress.to_go[job.rule] = progress.to_go.get(job.rule, 0) + 1
            continue
        progress.done[job.rule] = progress.done.get(job.rule, 0) + 1
        seconds = benchmark_seconds(root / job.benchmark) if job.benchmark else None
        if seconds is not None:
            times.setdefault(job.rule, []).append(seconds)
            progress.measured += 1
    progress.seconds = {r: sum(v) / len(v) for r, v in times.items()}
    return progress


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    text = f"{hours:d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days}d {text}" if days else text


def report(progress: Progress, parallel: int) -> str:
    """The progress as a few lines of text: done/total, a table per rule, the time left."""
    total = progress.total
    share = 100.0 * progress.n_done / total if total else 100.0
    lines = [f"{progress.n_done}/{total} jobs done ({share:.0f}%), {progress.n_to_go} to go"]
    rules = sorted(set(progress.done) | set(progress.to_go))
    width = max([len("rule")] + [len(r) for r in rules])
    lines.append(f"  {'rule':<{width}}  {'done':>6}  {'to go':>6}  {'s/job':>8}  {'time to go':>11}")
    for rule in rules:
        done, to_go = progress.done.get(rule, 0), progress.to_go.get(rule, 0)
        mean = progress.seconds.get(rule)
        per_job = f"{mean:8.1f}" if mean is not None else f"{'-':>8}"
        left = _duration(to_go * mean) if mean is not None else "?"
        lines.append(f"  {rule:<{width}}  {done:6d}  {to_go:6d}  {per_job}  {left:>11}")
    if progress.n_to_go == 0:
        lines.append("nothing left to do")
        return "\n".join(lines)
    lines.append(f"job time to go: {_duration(progress.seconds_to_go)} (from {progress.measured} "
                 "benchmarks of done jobs)")
    unknown = progress.unmeasured
    if unknown:
        lines.append(f"not counted: {sum(unknown.values())} jobs of rules with no benchmark of a "
                     f"done job yet ({', '.join(sorted(unknown))})")
    lines.append(f"time left at {parallel} jobs at once: about "
                 f"{_duration(progress.eta(parallel))}")
    return "\n".join(lines)


def _profile_parallel(args: list[str], root: str | os.PathLike = ".") -> int | None:
    """The jobs at once that ``--jobs``/``-j``/``--cores``/``-c`` among ``args`` or the
    ``--workflow-profile``'s config.yaml (``jobs``, else ``cores``; relative to ``root``) set, if
    any."""
    import yaml

    settings: dict = {}
    for i, arg in enumerate(args[:-1]):
        if arg in ("--workflow-profile", "--profile"):
            path = Path(root) / args[i + 1] / "config.yaml"
            if path.exists():
                settings = yaml.safe_load(path.read_text()) or {}
    for i, arg in enumerate(args[:-1]):
        if arg in ("--jobs", "-j", "--cores", "-c"):
            settings = {"jobs": args[i + 1]}
    value = settings.get("jobs", settings.get("cores"))
    if value == "all":
        return os.cpu_count() or 1
    try:
        return max(1, int(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _snakemake() -> str:
    exe = Path(sys.executable).parent / "snakemake"
    return str(exe) if exe.exists() else "snakemake"


def dry_runs(args: list[str], cwd: str | os.PathLike = ".") -> tuple[str, str]:
    """The outputs of ``snakemake --dry-run --forceall ARGS`` and ``snakemake --dry-run ARGS``,
    run side by side; a RuntimeError with Snakemake's message when either fails."""
    procs = [subprocess.Popen([_snakemake(), "--dry-run", *extra, *args], cwd=cwd, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for extra in (["--forceall"], [])]
    outputs = [p.communicate()[0] for p in procs]
    for proc, out in zip(procs, outputs):
        if proc.returncode != 0:
            raise RuntimeError(f"snakemake {' '.join(proc.args[1:])} failed:\n{out[-4000:]}")
    return outputs[0], outputs[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hierphase.progress",
        description="Jobs done and to go, and the time left, of the run that the given snakemake "
                    "arguments describe (from two dry runs and logs/benchmarks/).",
        epilog="Other arguments go to snakemake, e.g. --configfile FILE --workflow-profile DIR.")
    parser.add_argument("--jobs-at-once", type=int, default=None, metavar="N",
                        help="jobs that run side by side (default: the profile's jobs or cores)")
    parser.add_argument("--directory", default=".", help="the workflow's folder (default: here)")
    ours, rest = parser.parse_known_args(argv)
    if ours.jobs_at_once is not None and ours.jobs_at_once < 1:
        parser.error("--jobs-at-once must be at least 1")
    parallel = ours.jobs_at_once or _profile_parallel(rest, ours.directory) or 1
    try:
        everything, pending = dry_runs(rest, cwd=ours.directory)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    progress = estimate(parse_dry_run(everything), parse_dry_run(pending), ours.directory)
    print(report(progress, parallel))
    return 0


if __name__ == "__main__":
    sys.exit(main())
