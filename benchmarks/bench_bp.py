"""Benchmark: forward-backward posterior sampling by exact BP (upward pass + top-down sampling).

Case (issue 2): v=32 m=8 s=2 L=8, a batch of 1024 epsilon-noised data (eps=0.5), float64.
Compared, in separate fresh processes, on the same inputs:

- ``fast``: :func:`hierphase.bp.sample_posterior` (the numba backend the package uses: samples in
  blocks, gather-multiply-sum fused, per-node normalisation, parallel over blocks).
- ``reference``: :func:`reference_sample_posterior` below, the plain dense version: batched over
  samples and nodes, in probability space, per level it gathers every rule's children messages
  into a (rules, s, nodes) tensor (per sample), multiplies over s, sums over m, and keeps those rule
  weights of every level for the top-down sampling.

Both consume the same uniforms (:func:`hierphase.bp.posterior_uniforms`) with the same inverse-CDF
rule, so they must return the same trees; the script checks that.

Throughput: samples per second, wall clock, median over repetitions (after a warm-up call that
also compiles or loads the numba kernels). Peak memory: Linux RSS high-water mark (``VmHWM``),
reset through ``/proc/self/clear_refs`` right before the measured call, minus the RSS just before
it (so inputs, libraries and compiled code are excluded; tracemalloc would miss torch's buffers).
The numba first-call cost is measured in a process with an empty cache directory.

Usage: ``python benchmarks/bench_bp.py [--threads 2] [--n 1024] [--L 8] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

V, M, S, EPS = 32, 8, 2, 0.5


# ----------------------------------------------------------------------------- the reference
def reference_sample_posterior(rules, log_evidence, seed):
    """Plain dense forward-backward sampler (see the module docstring). Returns L+1 LongTensors."""
    import torch

    from hierphase.bp import posterior_uniforms

    n, s, m = log_evidence.shape[0], rules.s, rules.m
    uniforms = posterior_uniforms(rules, n, seed)
    msg = torch.softmax(log_evidence.to(torch.float64), dim=-1)  # (n, d, v) probability space
    weights = [None] * rules.L
    for level in range(rules.L - 1, -1, -1):
        nodes = s**level
        table = rules.tables[level]  # (P, m, s)
        n_par = table.shape[0]
        flat = table.reshape(n_par * m, s)  # (rules, s)
        # children as (n, v, s, nodes), then every rule's children: (n, rules, s, nodes)
        child = msg.reshape(n, nodes, s, -1).permute(0, 3, 2, 1)
        gathered = child[:, flat, torch.arange(s)]
        w = gathered.prod(dim=2).reshape(n, n_par, m, nodes)  # rule weights, kept
        weights[level] = w
        up = w.sum(dim=2)  # (n, P, nodes)
        up = up / up.sum(dim=1, keepdim=True)
        msg = up.permute(0, 2, 1)  # (n, nodes, P)
    # top-down sampling, inverse CDF as in hierphase.bp
    def draw(w, u):
        cdf = w.cumsum(-1)
        return (cdf <= (u * cdf[..., -1]).unsqueeze(-1)).sum(-1).clamp(max=w.shape[-1] - 1)

    values = draw(msg[:, 0, :], uniforms[:, 0]).unsqueeze(1)
    trees = [values]
    offset = 1
    for level in range(rules.L):
        nodes = s**level
        w = weights[level]  # (n, P, m, nodes)
        idx = values[:, None, None, :].expand(n, 1, m, nodes)
        w_sel = torch.gather(w, 1, idx)[:, 0].permute(0, 2, 1)  # (n, nodes, m)
        k = draw(w_sel, uniforms[:, offset:offset + nodes])
        offset += nodes
        values = rules.tables[level][values, k].reshape(n, nodes * s)
        trees.append(values)
    return trees


# ----------------------------------------------------------------------------- measurement
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _inputs(n: int, L: int):
    from hierphase import noise, rhm

    rules = rhm.sample_rules(V, M, S, L, seed=0)
    trees = rhm.sample_trees(rules, n, seed=1)
    return rules, trees, noise.epsilon_evidence(trees[-1], EPS, V)


def worker(method: str, n: int, L: int, threads: int, reps: int) -> dict:
    """Runs in a fresh process: warm-up, one call measured for peak memory, then timed reps."""
    import gc

    import numba
    import torch

    from hierphase import bp

    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    fn = bp.sample_posterior if method == "fast" else reference_sample_posterior
    rules, trees, ev = _inputs(n, L)
    t0 = time.perf_counter()
    fn(rules, ev[:8], 0)  # warm-up (numba: compile or load the cache)
    warm_s = time.perf_counter() - t0
    gc.collect()
    reset_ok = _reset_peak()
    base = _rss_kib("VmRSS")
    out = fn(rules, ev, 7)
    peak = _rss_kib("VmHWM")
    first = [t.clone() for t in out]
    del out
    gc.collect()
    times, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(rules, ev, 7)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    kept = float(torch.cat([(a == b).double().mean(1, keepdim=True)
                            for a, b in zip(first, trees)], 1).mean())
    fd, path = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    torch.save(first, path)
    return {"method": method, "times_s": times, "cpu_s": cpu, "warm_s": warm_s,
            "peak_extra_mib": (peak - base) / 1024, "rss_before_mib": base / 1024,
            "peak_reset": reset_ok, "samples_path": path, "kept_fraction": kept}


def _spawn(args: list[str], env=None) -> dict:
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         env=env, check=False)
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def compile_time(threads: int) -> float:
    """First call (tiny batch) in a process whose numba cache directory is empty."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        return _spawn(["--worker", "fast", "--n", "8", "--L", "3", "--threads", str(threads),
                       "--reps", "1"], env=env)["warm_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description="exact-BP posterior sampling benchmark")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--L", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="fresh processes per method, alternated")
    ap.add_argument("--reps", type=int, default=3, help="timed calls per process")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.L, args.threads, args.reps)))
        return

    import torch

    common = ["--n", str(args.n), "--L", str(args.L), "--threads", str(args.threads)]
    runs = {"reference": [], "fast": []}
    for _ in range(args.rounds):
        for method, reps in (("reference", max(1, args.reps - 1)), ("fast", args.reps * 3)):
            runs[method].append(_spawn(["--worker", method, "--reps", str(reps), *common]))
    summary = {}
    for method, rs in runs.items():
        times = [t for r in rs for t in r["times_s"]]
        cpu = [t for r in rs for t in r["cpu_s"]]
        summary[method] = {
            "samples_per_s": args.n / statistics.median(times),
            "cpu_us_per_sample": 1e6 * statistics.median(cpu) / args.n,
            "peak_extra_mib": max(r["peak_extra_mib"] for r in rs),
            "peak_reset": all(r["peak_reset"] for r in rs),
            "kept_fraction_all_levels": rs[0]["kept_fraction"],
        }
    a = torch.load(runs["fast"][0]["samples_path"])
    b = torch.load(runs["reference"][0]["samples_path"])
    identical = float(torch.cat([(x == y).double().flatten() for x, y in zip(a, b)]).mean())
    for r in runs["fast"] + runs["reference"]:
        os.unlink(r["samples_path"])
    comp = compile_time(args.threads)
    f, r = summary["fast"], summary["reference"]
    result = {
        "case": {"v": V, "m": M, "s": S, "L": args.L, "n": args.n, "eps": EPS,
                 "threads": args.threads, "dtype": "float64"},
        "fast": f, "reference": r,
        "throughput_ratio": f["samples_per_s"] / r["samples_per_s"],
        "memory_ratio": f["peak_extra_mib"] / r["peak_extra_mib"],
        "identical_latents_fraction": identical,
        "numba_compile_s": comp,
        "memory_method": "RSS high-water mark (VmHWM after clear_refs) minus RSS before the call",
    }
    print(f"exact-BP posterior sampling, v={V} m={M} s={S} L={args.L}, n={args.n}, eps={EPS}, "
          f"{args.threads} threads, float64")
    print(f"{'':10s} {'samples/s':>11s} {'cpu us/sample':>14s} {'peak MiB':>10s}")
    for name in ("reference", "fast"):
        x = summary[name]
        print(f"{name:10s} {x['samples_per_s']:11.0f} {x['cpu_us_per_sample']:14.1f} "
              f"{x['peak_extra_mib']:10.1f}")
    print(f"throughput ratio fast/reference: {result['throughput_ratio']:.1f}x; "
          f"peak memory ratio: {result['memory_ratio']:.3f}")
    print(f"identical latents (fast vs reference, same uniforms): {identical:.6f}; "
          f"numba first-call compile (empty cache): {comp:.1f} s")
    print(f"memory: {result['memory_method']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    if identical < 0.999:
        raise SystemExit("fast and reference samplers disagree")


if __name__ == "__main__":
    main()
