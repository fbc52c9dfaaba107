"""Snakemake's own cost beside the jobs it runs: the CPU of its process against its jobs' CPU
over one invocation, and the wall time of an invocation that has nothing to do.

Runs Snakemake in this process (``snakemake.cli.main``) with the arguments given after ``--``
and, when it exits, prints the CPU seconds of this process (planning, scheduling, bookkeeping)
and of every job it ran (``RUSAGE_CHILDREN``: the job processes and theirs), their ratio and
the wall time. Usage, from the repository root:

    python benchmarks/workflow_overhead.py -- --workflow-profile workflow/profiles/default

A second call on finished results measures the no-op rerun (nothing to do).
"""

from __future__ import annotations

import atexit
import json
import resource
import sys
import time


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    start = time.perf_counter()

    @atexit.register
    def report() -> None:
        own, jobs = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        print(json.dumps({"wall_s": round(time.perf_counter() - start, 2),
                          "snakemake_cpu_s": round(own, 2), "jobs_cpu_s": round(jobs, 2),
                          "snakemake_share": round(own / (own + jobs), 4) if own + jobs else None}),
              file=sys.stderr)

    from snakemake.cli import main as snakemake_main

    sys.argv = ["snakemake", *args]
    snakemake_main()


if __name__ == "__main__":
    main()
