"""Print the exact-BP class-reconstruction curve for v=32 m=8 s=2 at L = 2, 4, 6, 8 next to the
mean-field curve: the exact curve sharpens towards a step at eps* = 0.7312 as L grows.

Exact BP column: mean over ``--n`` data of the posterior probability of the true class (the
probability that a forward-backward sample keeps the class), epsilon-process, one rule draw.
Usage: ``python benchmarks/step_curve.py [--n 512] [--seed 0]`` (about 10 s on 2 cores).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from hierphase import bp, noise, rhm, theory
from hierphase.seeding import derive_seed

V, M, S = 32, 8, 2
LEVELS = (2, 4, 6, 8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512, help="data per point")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    eps_star = theory.critical_noise(V, M, S)
    grid = np.unique(np.round(np.concatenate([np.linspace(0, 1, 11), [0.65, 0.7, 0.75, 0.8],
                                              [eps_star]]), 4))
    exact = {}
    for L in LEVELS:
        rules = rhm.sample_rules(V, M, S, L, seed=derive_seed(args.seed, "step_curve.rules", L))
        trees = rhm.sample_trees(rules, args.n, seed=derive_seed(args.seed, "step_curve.trees", L))
        col = []
        for eps in grid:
            post = bp.class_posterior(rules, noise.epsilon_evidence(trees[-1], float(eps), V))
            col.append(float(torch.gather(post, 1, trees[0]).mean()))
        exact[L] = np.array(col)
    print(f"v={V} m={M} s={S}: eps* = {eps_star:.4f}, nu = {theory.nu(V, M, S):.3f}; "
          f"class kept, exact BP (n={args.n} data) | mean field")
    head = "  eps  " + " ".join(f"  BP L={L}" for L in LEVELS) + " | " + \
        " ".join(f"  MF L={L}" for L in LEVELS)
    print(head)
    for i, eps in enumerate(grid):
        bp_cols = " ".join(f"{exact[L][i]:8.4f}" for L in LEVELS)
        mf_cols = " ".join(f"{float(theory.class_reconstruction(eps, V, M, S, L)):8.4f}"
                           for L in LEVELS)
        print(f"{eps:6.4f} {bp_cols} | {mf_cols}")


if __name__ == "__main__":
    main()
