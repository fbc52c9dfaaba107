"""Benchmark: the binned change-correlation estimator against a naive dense computation.

Case (issue 13): RHM leaves, s=2 L=9 (d=512), 256 x0 x 256 trajectories of +-1 change spins
(random, with a per-trajectory common factor so that sites co-change), in one process:

- ``binned``: :func:`hierphase.correlations.tree_pair_sums` for each x0 (block sums of the centred
  spins, O(n_traj * d * L) per x0), then the x0-mean, C(r), chi and xi; and, separately, the whole
  :func:`hierphase.correlations.tree_correlations` call at the leaves (with a 1000-resample
  bootstrap over x0).
- ``dense``: the (n_x0, d, d) array of per-x0 connected correlations in float64 (one batched
  matrix product), averaged over x0, then averaged over the pairs of each tree distance.

Both must give the same C(r) and chi (checked, relative 1e-9). Time: wall clock (binned: median of
3 runs). Peak memory: ``tracemalloc`` peak during the call (numpy reports its buffers to
tracemalloc), inputs excluded.

Usage: ``python benchmarks/bench_correlations.py [--n-x0 256] [--n-traj 256] [--L 9] [--json out]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np

from hierphase.correlations import (susceptibility, tree_bins, tree_correlations,
                                    tree_pair_sums)
from hierphase.io import write_json

S = 2


def make_spins(n_x0: int, n_traj: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n_x0, n_traj, d), dtype=np.int8)
    for i in range(n_x0):  # one x0 at a time keeps the float temporaries small
        p = rng.uniform(0.05, 0.95, size=(1, d))
        u = 0.5 * rng.uniform(size=(n_traj, d)) + 0.5 * rng.uniform(size=(n_traj, 1))
        out[i] = np.where(u < p, 1, -1)
    return out


def binned(spins: np.ndarray):
    pairs = np.stack([tree_pair_sums(x, S) for x in spins]).mean(axis=0)
    bins = tree_bins(S, round(np.log2(spins.shape[2])))
    return pairs / bins.n_pairs, float(susceptibility(pairs))


def dense(spins: np.ndarray):
    n_x0, n_traj, d = spins.shape
    x = spins.astype(np.float64)
    cov = np.matmul(x.transpose(0, 2, 1), x) / n_traj  # (n_x0, d, d): <sigma_i sigma_j>
    mean = x.mean(axis=1)
    cov -= mean[:, :, None] * mean[:, None, :]
    C = cov.mean(axis=0)
    L = round(np.log2(d))
    nodes = np.arange(d)
    dist = np.full((d, d), -1)
    for k in range(L, -1, -1):
        dist[(nodes[:, None] >> k) == (nodes[None, :] >> k)] = k
    per_bin = np.array([C[dist == k].mean() for k in range(L + 1)])
    return per_bin, float(C.sum() / np.trace(C))


def measure(fn, *args, repeat: int = 1):
    times, peak, result = [], 0, None
    for _ in range(repeat):
        tracemalloc.start()
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - t0)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return statistics.median(times), peak, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-x0", type=int, default=256)
    ap.add_argument("--n-traj", type=int, default=256)
    ap.add_argument("--L", type=int, default=9)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    spins = make_spins(args.n_x0, args.n_traj, S**args.L)
    print(f"tree s={S} L={args.L} d={S**args.L}, {args.n_x0} x0 x {args.n_traj} trajectories")

    t_bin, m_bin, (C_bin, chi_bin) = measure(binned, spins, repeat=3)
    t_full, m_full, _ = measure(
        lambda x: tree_correlations({args.L: x}, S, n_boot=1000, seed=0), spins)
    t_den, m_den, (C_den, chi_den) = measure(dense, spins)
    np.testing.assert_allclose(C_bin, C_den, rtol=1e-9, atol=1e-12)
    assert abs(chi_bin - chi_den) <= 1e-9 * abs(chi_den)

    report = {
        "d": S**args.L, "n_x0": args.n_x0, "n_traj": args.n_traj,
        "binned_s": t_bin, "binned_peak_MiB": m_bin / 2**20,
        "tree_correlations_with_bootstrap_s": t_full,
        "tree_correlations_peak_MiB": m_full / 2**20,
        "dense_s": t_den, "dense_peak_MiB": m_den / 2**20,
        "time_ratio_dense_over_binned": t_den / t_bin,
        "memory_ratio_dense_over_binned": m_den / m_bin,
        "chi": chi_bin, "max_abs_C_difference": float(np.max(np.abs(C_bin - C_den))),
    }
    print(f"binned : {t_bin:8.3f} s  peak {m_bin / 2**20:9.1f} MiB")
    print(f"  + tables, 1000 bootstrap resamples: {t_full:.3f} s  peak {m_full / 2**20:.1f} MiB")
    print(f"dense  : {t_den:8.3f} s  peak {m_den / 2**20:9.1f} MiB")
    print(f"ratio dense / binned: time x{t_den / t_bin:.1f}, memory x{m_den / m_bin:.1f}")
    print(f"same C(r) (max |diff| {report['max_abs_C_difference']:.2e}), chi = {chi_bin:.4f}")
    if args.json:
        write_json(args.json, report)


if __name__ == "__main__":
    main()
