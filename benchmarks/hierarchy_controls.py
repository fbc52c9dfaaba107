"""Controls that separate a hierarchy from a sharp transition: a random code at several d
(v = 2, tuned by its annealed rate to flip at the RHM's eps*), the RHM (v=32 m=8 s=2) with its
leaves permuted, and their summary (:func:`hierphase.controls.control_summary`).

``python benchmarks/hierarchy_controls.py OUT`` writes ``OUT/code_*.parquet``,
``OUT/permuted_*.parquet`` and ``OUT/summary.csv``. Seeds: codewords ``derive_seed(0,
"hier.code", L)``, runs ``derive_seed(0, "hier.code.runs", L)``; RHM rules and trees as in
``benchmarks/hierarchy_data.py`` (rule seed 0), permutation seed 0.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hierphase import controls, io, rhm, theory
from hierphase.seeding import derive_seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--code-L", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--rhm-L", type=int, nargs="+", default=[6, 8])
    ap.add_argument("--n-x0", type=int, default=64)
    ap.add_argument("--n-traj", type=int, default=128)
    ap.add_argument("--n-boot", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    eps_star = theory.critical_noise(32, 8, 2)
    code_eps = np.round(np.concatenate([np.arange(0.3, 0.96, 0.05), [0.725, 0.75]]), 4)
    corr, chi = [], []
    for L in args.code_L:
        t0 = time.perf_counter()
        d = 2**L
        code = controls.RandomCode.from_seed(2, controls.code_size(2, d, eps_star), d,
                                             seed=derive_seed(0, "hier.code", L))
        c, s = controls.random_code_correlations(
            code, np.sort(code_eps), n_x0=args.n_x0, n_traj=args.n_traj,
            seed=derive_seed(0, "hier.code.runs", L), n_boot=args.n_boot,
            experiment=f"v2_n{code.n_codes}")
        io.write_table(c, args.out / f"code_L{L}_corr.parquet")
        io.write_table(s, args.out / f"code_L{L}_chi.parquet")
        corr.append(c), chi.append(s)
        print(f"code d={d} n_codes={code.n_codes}: {time.perf_counter() - t0:.1f} s", flush=True)
    rhm_eps = np.round(np.arange(0.6, 0.861, 0.02), 4)
    for L in args.rhm_L:
        t0 = time.perf_counter()
        rules = rhm.sample_rules(32, 8, 2, L, seed=derive_seed(0, "hier.rules", L))
        trees = rhm.sample_trees(rules, args.n_x0, seed=derive_seed(0, "hier.trees", L))
        c, s = controls.permuted_leaf_correlations(
            rules, trees, rhm_eps, n_traj=args.n_traj, seed=derive_seed(0, "hier.perm", L),
            permutation_seed=0, n_boot=args.n_boot, experiment="main", rule_seed=0)
        io.write_table(c, args.out / f"permuted_L{L}_corr.parquet")
        io.write_table(s, args.out / f"permuted_L{L}_chi.parquet")
        corr.append(c), chi.append(s)
        print(f"permuted RHM L={L}: {time.perf_counter() - t0:.1f} s", flush=True)
    summary = controls.control_summary(pd.concat(corr, ignore_index=True),
                                       pd.concat(chi, ignore_index=True))
    io.write_table(summary, args.out / "summary.parquet", args.out / "summary.csv")
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
