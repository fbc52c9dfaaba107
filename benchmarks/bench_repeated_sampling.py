"""Benchmark: many posterior samples of one datum (the change-correlation sweeps of the
epsilon-process) with one shared upward pass, against sampling the repeated evidence.

Case: v=32 m=8 s=2, eps = 0.73, one datum, ``k`` samples, L = 8 and 10, one thread. ``shared``:
:func:`hierphase.bp.sample_posterior` with ``n_samples=k`` (one upward pass, k top-down draws);
``repeated``: the same function on ``log_evidence.repeat_interleave(k, 0)`` (k upward passes).
Both consume the same uniforms, so the script checks that they return the same trees. Reported:
median wall time per datum over repetitions, after a warm-up call, and the ratio.

Usage: ``python benchmarks/bench_repeated_sampling.py [--k 256] [--reps 5] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _median_time(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()

    import torch

    from hierphase import bp, jobs, noise, rhm
    from hierphase.io import write_json

    jobs.limit_threads(1)
    rows = []
    for L in (8, 10):
        rules = rhm.sample_rules(32, 8, 2, L, seed=0)
        x0 = rhm.sample_trees(rules, 1, seed=1)[-1]
        ev = noise.epsilon_evidence(x0, 0.73, 32)
        repeated_ev = ev.repeat_interleave(args.k, 0)
        shared = bp.sample_posterior(rules, ev, seed=2, n_samples=args.k)
        repeated = bp.sample_posterior(rules, repeated_ev, seed=2)
        assert all(torch.equal(a.reshape(b.shape), b) for a, b in zip(shared, repeated))
        t_shared = _median_time(lambda: bp.sample_posterior(rules, ev, seed=2, n_samples=args.k),
                                args.reps)
        t_repeated = _median_time(lambda: bp.sample_posterior(rules, repeated_ev, seed=2),
                                  args.reps)
        rows.append({"L": L, "k": args.k, "shared_ms": 1e3 * t_shared,
                     "repeated_ms": 1e3 * t_repeated, "speedup": t_repeated / t_shared})
        print(f"L={L} k={args.k}: shared {1e3 * t_shared:.2f} ms, repeated evidence "
              f"{1e3 * t_repeated:.2f} ms per datum, {t_repeated / t_shared:.1f}x")
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
