"""Population dynamics of BP's upward messages: eps* and nu of the quenched RHM ensemble at
several (v, m, s), replicas in turn, with mean field beside them.

``python benchmarks/hierarchy_population.py OUT --points 32,8,2 16,4,2 4,4,3 --replicas 8
--depths 8 12 16 24`` writes ``OUT/replicas.csv`` (:data:`hierphase.population.REPLICA_COLUMNS`,
one row per replica and depth, appended as each replica ends), ``OUT/summary.csv``
(:func:`hierphase.population.summarise_replicas` with mean field's ``eps_star_mf`` and
``nu_mf``) and ``OUT/extrapolated.csv`` (:func:`hierphase.population.extrapolate_replicas`). Rules from ``derive_seed(seed, "population.rules",
r)``, picks from ``derive_seed(seed, "population.replica", r)``; seed 0 unless ``--seed``.

``--compare`` instead times, in this process, the half points of one replica at every depth of
``--depths`` found together (:func:`hierphase.population.half_points`, one run) against one
bisection per depth on the population of that depth (the method before it), and prints the
ratio and the largest difference of the half points.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from hierphase import population, theory


def compare(args) -> None:
    """Time half_points against a bisection per depth (module docstring)."""
    from scipy.optimize import bisect

    from hierphase import rhm

    for point in args.points:
        v, m, s = (int(x) for x in point.split(","))
        rules = rhm.sample_rules(v, m, s, max(args.depths), seed=args.seed)
        star = theory.critical_noise(v, m, s)
        bracket = (max(0.0, star - 0.2), min(1.0, star + 0.2))
        t0 = time.process_time()
        together = population.half_points(rules, args.n_per_value, args.seed, args.depths,
                                          bracket=bracket, tol=args.tol)
        t_together = time.process_time() - t0
        t0 = time.process_time()
        alone = []
        for depth in args.depths:
            def f(e, depth=depth):
                return population.overlaps(rules, [e], args.n_per_value, args.seed)[depth, 0] - 0.5
            alone.append(bisect(f, *bracket, xtol=args.tol))
        t_alone = time.process_time() - t0
        gap = max(abs(a - b) for a, b in zip(together, alone))
        print(f"v={v} m={m} s={s}, depths {args.depths}, {args.n_per_value} per value: together "
              f"{t_together:.1f} CPU-s, a bisection per depth {t_alone:.1f} CPU-s "
              f"(x{t_alone / t_together:.1f}); largest difference {gap:.1e}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--points", nargs="+", default=["32,8,2"])
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--depths", type=int, nargs="+", default=[8, 12, 16, 24])
    ap.add_argument("--n-per-value", type=int, default=256)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.compare:
        compare(args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for point in args.points:
        v, m, s = (int(x) for x in point.split(","))
        star = theory.critical_noise(v, m, s)
        bracket = (max(0.0, star - 0.12), min(1.0, star + 0.12))
        for r in range(args.replicas):
            t0 = time.perf_counter()
            rep = population.replica_estimates(v, m, s, depths=args.depths,
                                               n_per_value=args.n_per_value, replicas=[r],
                                               seed=args.seed, bracket=bracket, tol=args.tol)
            rows.append(rep)
            pd.concat(rows).to_csv(args.out / "replicas.csv", index=False)
            print(f"v={v} m={m} s={s} replica {r}: eps* at the deepest {rep['eps_star'].iloc[-1]:.6f}"
                  f" nu {rep['nu'].iloc[-1]:.4f} ({time.perf_counter() - t0:.1f} s)", flush=True)
    replicas = pd.concat(rows, ignore_index=True)
    extrapolated = population.extrapolate_replicas(replicas)
    extrapolated.to_csv(args.out / "extrapolated.csv", index=False)
    print(extrapolated.to_string())
    summary = population.summarise_replicas(replicas)
    summary["eps_star_mf"] = [theory.critical_noise(*k) for k in zip(summary.v, summary.m, summary.s)]
    summary["nu_mf"] = [theory.nu(*k) for k in zip(summary.v, summary.m, summary.s)]
    summary.to_csv(args.out / "summary.csv", index=False)
    print(summary.to_string())


if __name__ == "__main__":
    main()
