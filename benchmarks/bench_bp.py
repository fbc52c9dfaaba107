"""Benchmarks of exact BP on the RHM tree. Two cases (``--case``):

``kept`` (the sweeps' per-noise-point work): v=32 m=8 s=2, L = 8 and 10, a batch of 1024 data
epsilon-noised at eps = 0.73 (near eps*), 2 threads. In ONE process, alternating call by call on
the same evidence:

- ``two_call``: :func:`two_call_kept_observables` below, what the sweeps did before the fused
  kernel: :func:`hierphase.bp.marginals` (upward + downward pass writing every level's (n, s**l, v)
  marginals), :func:`hierphase.bp.sample_posterior` (a second upward pass and the draw), then the
  true-latent probabilities gathered from the marginals and the kept fractions.
- ``fused``: :func:`hierphase.bp.kept_observables` (one upward pass; one top-down walk computing
  the marginals node by node, reading off the true latents and drawing the sample).
- ``fused_float32``: the same in single precision.

Reported per depth: data per second per noise point (median over repetitions), the throughput
ratios against two_call, the peak extra memory of one call (RSS high-water mark, reset through
``/proc/self/clear_refs`` before the call, minus the RSS before it), and the checks: fused equals
two_call exactly (probabilities and kept fractions), float32's largest deviation from float64 in
the probabilities (per datum and level, and in the batch means) and the fraction of sampled
latents that differ. The evidence is built once, outside the timed calls; its cost per noise
point for each process is reported beside (``evidence_ms``).

``sampling`` (issue 2, the default): v=32 m=8 s=2 L=8, a batch of 1024 epsilon-noised data
(eps=0.5), float64. Compared, in separate fresh processes, on the same inputs:

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

Usage: ``python benchmarks/bench_bp.py [--case sampling|kept] [--threads 2] [--n 1024] [--L 8]
[--reps 3] [--json out.json]`` (``--L`` is ignored by ``kept``, which runs L = 8 and 10).
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


def two_call_kept_observables(rules, log_evidence, trees, seed):
    """The kept observables the way the sweeps computed them before the fused kernel."""
    import torch

    from hierphase import bp, observables

    marg = bp.marginals(rules, log_evidence)
    samples = bp.sample_posterior(rules, log_evidence, seed=seed)
    p_true = observables.true_latent_probability(marg, trees)
    return ([p.to(torch.float64).mean(dim=1) for p in p_true],
            observables.kept_fraction(samples, trees))


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


def _peak_call(fn) -> float:
    """Peak extra RSS (MiB) of one call of ``fn``."""
    import gc

    gc.collect()
    _reset_peak()
    base = _rss_kib("VmRSS")
    out = fn()
    peak = _rss_kib("VmHWM")
    del out
    return (peak - base) / 1024


def kept_case(n: int, threads: int, reps: int) -> dict:
    """The ``kept`` case (module docstring), in this process."""
    import numba
    import torch

    from hierphase import bp, noise, rhm

    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    eps = 0.73
    methods = {
        "two_call": lambda r, e, t: two_call_kept_observables(r, e, t, 7),
        "fused": lambda r, e, t: tuple(bp.kept_observables(r, e, t, 7)),
        "fused_float32": lambda r, e, t: tuple(bp.kept_observables(r, e, t, 7,
                                                                   dtype=torch.float32)),
    }
    result = {"case": {"v": V, "m": M, "s": S, "n": n, "eps": eps, "threads": threads}, "L": {}}
    for L in (8, 10):
        rules = rhm.sample_rules(V, M, S, L, seed=0)
        trees = rhm.sample_trees(rules, n, seed=1)
        ev = noise.epsilon_evidence(trees[-1], eps, V)
        evidence_ms = {}
        for process, value in (("epsilon", eps), ("masking", 0.3), ("gaussian", 0.15)):
            noise.forward_evidence(process, trees[-1][:8], V, value, seed=3)
            t0 = time.perf_counter()
            noise.forward_evidence(process, trees[-1], V, value, seed=3)
            evidence_ms[process] = 1e3 * (time.perf_counter() - t0)
        outs = {name: fn(rules, ev, trees) for name, fn in methods.items()}  # also warms up
        peak = {name: _peak_call(lambda fn=fn: fn(rules, ev, trees))
                for name, fn in methods.items()}
        times = {name: [] for name in methods}
        cpu = {name: [] for name in methods}
        for _ in range(reps):  # alternate, so that a busy machine slows every method alike
            for name, fn in methods.items():
                t0, c0 = time.perf_counter(), time.process_time()
                fn(rules, ev, trees)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        ref_p, ref_k = outs["two_call"]
        f_p, f_k = outs["fused"]
        s_p, s_k = outs["fused_float32"]
        rate = {name: n / statistics.median(ts) for name, ts in times.items()}
        cpu_rate = {name: n / statistics.median(ts) for name, ts in cpu.items()}
        result["L"][L] = {
            "data_per_s": rate,
            "data_per_cpu_s": cpu_rate,
            "cpu_speedup_fused": cpu_rate["fused"] / cpu_rate["two_call"],
            "cpu_speedup_fused_float32": cpu_rate["fused_float32"] / cpu_rate["two_call"],
            "ms_per_point": {name: 1e3 * statistics.median(ts) for name, ts in times.items()},
            "speedup_fused": rate["fused"] / rate["two_call"],
            "speedup_fused_float32": rate["fused_float32"] / rate["two_call"],
            "peak_extra_mib": peak,
            "fused_identical": all(torch.equal(a, b) for a, b in zip(ref_p + ref_k, f_p + f_k)),
            "fused_max_abs_diff": max(float((a - b).abs().max()) for a, b in zip(ref_p, f_p)),
            "float32_max_abs_diff_per_datum": max(float((a - b).abs().max())
                                                  for a, b in zip(f_p, s_p)),
            "float32_max_abs_diff_batch_mean": max(abs(float(a.mean() - b.mean()))
                                                   for a, b in zip(f_p, s_p)),
            "float32_kept_mean_diff": max(abs(float(a.mean() - b.mean()))
                                          for a, b in zip(f_k, s_k)),
            "evidence_ms": evidence_ms,
        }
        r = result["L"][L]
        print(f"L={L}, n={n}, eps={eps}, {threads} threads: data/s per noise point "
              + ", ".join(f"{k} {v:.0f}" for k, v in rate.items())
              + f"; fused {r['speedup_fused']:.2f}x, float32 {r['speedup_fused_float32']:.2f}x "
              f"(CPU time: {r['cpu_speedup_fused']:.2f}x, {r['cpu_speedup_fused_float32']:.2f}x); "
              f"peak MiB " + ", ".join(f"{k} {v:.1f}" for k, v in peak.items()))
        print(f"  fused == two_call: {r['fused_identical']} (max |diff| {r['fused_max_abs_diff']:.1e});"
              f" float32 vs float64: max |diff| {r['float32_max_abs_diff_per_datum']:.1e} per datum,"
              f" {r['float32_max_abs_diff_batch_mean']:.1e} in the means, kept fraction means differ"
              f" by {r['float32_kept_mean_diff']:.1e}; evidence ms "
              + ", ".join(f"{k} {v:.0f}" for k, v in evidence_ms.items()))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description="exact-BP posterior sampling benchmark")
    ap.add_argument("--case", choices=("sampling", "kept"), default="sampling")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--L", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="fresh processes per method, alternated")
    ap.add_argument("--reps", type=int, default=3, help="timed calls per process")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    from hierphase.io import write_json

    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.L, args.threads, args.reps)))
        return
    if args.case == "kept":
        result = kept_case(args.n, args.threads, max(args.reps, 3))
        if args.json:
            write_json(args.json, result)
        if not all(r["fused_identical"] for r in result["L"].values()):
            raise SystemExit("the fused kernel and the two-call path disagree")
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
        write_json(args.json, result)
    if identical < 0.999:
        raise SystemExit("fast and reference samplers disagree")


if __name__ == "__main__":
    main()
