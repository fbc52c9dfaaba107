"""Finite-size scaling with and without a correction-to-scaling term where the answer is known
(annealed mean field: eps* and nu exact), and the CPU cost of one exact-BP class-curve point at
the paper preset's sample size for L = 11 and 12, as a ratio to L = 10 in the same process.

``python benchmarks/hierarchy_fss.py [--time] [--n 1000]``: prints the mean-field table (half
points and 90-10% widths by root finding on ``theory.class_reconstruction``, depths 4..L_max),
the fits of :func:`hierphase.scaling.extrapolate_eps_star` and
:func:`hierphase.scaling.fit_with_correction` over L = 4..10 and 4..12; with ``--time``, the
wall time of :func:`hierphase.stages.rhm.sweep_shard` for one eps and ``--n`` data (one batch)
at L = 10, 11, 12 (rules and trees seed 0; single thread).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.optimize import brentq

from hierphase import rhm, scaling, theory

V, M, S = 32, 8, 2


def mean_field_points(L_values):
    rows = []
    for L in L_values:
        def y(e, level):
            p = float(theory.class_reconstruction(e, V, M, S, L))
            return (p - 1 / V) / (1 - 1 / V) - level
        half = brentq(lambda e: float(theory.class_reconstruction(e, V, M, S, L)) - 0.5, 0.3, 0.999,
                      xtol=1e-14)
        width = brentq(y, 0.3, 0.9999, args=(0.1,), xtol=1e-14) - brentq(y, 0.01, 0.999,
                                                                         args=(0.9,), xtol=1e-14)
        rows.append((L, half, width))
    return np.array(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", action="store_true")
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    pts = mean_field_points(range(4, 17))
    print(f"mean field: eps* = {theory.critical_noise(V, M, S):.6f}, nu = {theory.nu(V, M, S):.4f}")
    print("L  eps_half  width")
    for L, h, w in pts:
        print(f"{int(L):2d} {h:.6f} {w:.6f}")
    for top in (10, 12, 16):
        sel = (pts[:, 0] >= 4) & (pts[:, 0] <= top)
        L, h, w = pts[sel].T
        plain = scaling.extrapolate_eps_star(L, h, s=S)
        corr = scaling.fit_with_correction(L, h, s=S)
        wp = scaling.fit_power_law(2.0**L, w, r_min=0)
        wc = scaling.fit_with_correction(L, w, s=S, offset=False)
        print(f"L = 4..{top}: half point eps* {plain.eps_star:.5f} nu {plain.nu:.4f} | with "
              f"correction eps* {corr.offset:.5f} nu {corr.nu:.4f} | width nu {1 / wp.exponent:.4f}"
              f" | width with correction nu {wc.nu:.4f}")
    if args.time:
        from hierphase.stages import rhm as stage
        ref = None
        warm = rhm.sample_rules(V, M, S, 4, seed=0)  # compile the kernels outside the timings
        stage.sweep_shard(warm, rhm.sample_trees(warm, 8, seed=0), "epsilon", [0.73], seed=0,
                          batch_size=8)
        for L in (10, 11, 12):
            rules = rhm.sample_rules(V, M, S, L, seed=0)
            trees = rhm.sample_trees(rules, args.n, seed=0)
            t0 = time.perf_counter()
            stage.sweep_shard(rules, trees, "epsilon", [0.73], seed=0, batch_size=args.n)
            dt = time.perf_counter() - t0
            ref = ref or dt
            print(f"L={L}: {dt:.1f} s for {args.n} data, one eps (x{dt / ref:.2f} of L=10)",
                  flush=True)


if __name__ == "__main__":
    main()
