"""Benchmark: the exact posterior of noisy sentences under a PCFG, numba kernels against the plain
dense torch recursion, and sentence generation.

Cases (``--grammar``), sentences of n = 32, 64, 128 tokens, uniform-token noise at abar = 0.5:

- ``random``: :func:`hierphase.grammar.random_grammar` with 24 nonterminals (12 phrasal with 6
  binary rules each, 12 preterminals with 4 words each), 32 terminals, overlap 0.5, Zipf rule
  probabilities (72 binary rules, 24**2 = 576 child pairs);
- ``rhm``: :func:`hierphase.grammar.rhm_grammar` of an RHM v=8 m=4 s=2 (L = log2 n), whose
  nonterminals are one set per level (8 L + 8 of them) and whose 32 L binary rules are sparse
  among the (8 L + 8)**2 pairs.

In ONE process, on the same evidence, alternating call by call (median over ``--repeat``):

- ``numba``: :func:`hierphase.grammar.posterior` (``backend="numba"``): loops over the rules,
  ``n**3/6 |rules|`` multiply-adds per sentence, sentences in parallel;
- ``dense``: the same function with ``backend="torch"``, the plain dense recursion: per width,
  one batched matrix product over all ``N**2`` child pairs of every split, then the rules'
  weights (``n**3/6 N**2`` per sentence), and the transposed products for the outside pass.

Both compute token, root and labelled-span marginals and the log-likelihood; they must agree
(checked, 1e-10). Reported: sentences per second for each and the ratio numba / dense; and the
throughput of :func:`hierphase.grammar.sample_sentences` (sentences with trees per second) and of
:func:`hierphase.grammar.sample_posterior` at each n. Threads: ``--threads`` (default 1) sets
both torch's and numba's; 0 keeps their defaults (on a loaded machine several threads per
library slow torch's many small products by far more than they help).

Usage: ``python benchmarks/bench_grammar.py [--grammar random|rhm] [--n 32 64 128] [--batch 8]
[--repeat 3] [--threads 1] [--json out]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numba
import torch

from hierphase import noise, rhm
from hierphase.grammar import (posterior, random_grammar, rhm_grammar, sample_posterior,
                               sample_sentences)
from hierphase.io import write_json


def make_grammar(kind: str, n: int):
    if kind == "random":
        return random_grammar(24, 12, 32, 6, 4, overlap=0.5, seed=0, law="zipf", lengths=(n,))
    L = round(math.log2(n))
    return rhm_grammar(rhm.sample_rules(8, 4, 2, L, seed=0))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_length(kind: str, n: int, batch: int, repeat: int) -> dict:
    g = make_grammar(kind, n)
    x = sample_sentences(g, n, batch, seed=1).tokens
    abar = 0.5
    ev = noise.uniform_evidence(noise.uniform_forward(x, g.n_terminals, abar, seed=2), abar,
                                g.n_terminals)
    posterior(g, ev[:1])  # compile / load the kernels outside the timings
    t_fast, t_dense = [], []
    diff = 0.0
    for _ in range(repeat):
        t, fast = timed(lambda: posterior(g, ev, backend="numba"))
        t_fast.append(t)
        t, dense = timed(lambda: posterior(g, ev, backend="torch"))
        t_dense.append(t)
        diff = max(float((a - b).abs().max()) for a, b in zip(fast, dense))
    assert diff < 1e-10, diff
    count = 2000
    t_gen, _ = timed(lambda: sample_sentences(g, n, count, seed=3))
    t_post, _ = timed(lambda: sample_posterior(g, ev, seed=4, n_samples=10))
    fast_s, dense_s = statistics.median(t_fast), statistics.median(t_dense)
    return {
        "grammar": kind, "n": n, "nonterminals": g.n_nonterminals, "binary_rules": g.n_binary,
        "batch": batch,
        "numba_sentences_per_s": batch / fast_s, "dense_sentences_per_s": batch / dense_s,
        "ratio_numba_over_dense": dense_s / fast_s, "max_abs_difference": diff,
        "generated_sentences_per_s": count / t_gen,
        "posterior_samples_per_s": 10 * batch / t_post,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grammar", choices=("random", "rhm"), default="random")
    ap.add_argument("--n", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
    print(f"grammar {args.grammar}, batch {args.batch}, threads torch {torch.get_num_threads()} "
          f"numba {numba.get_num_threads()}")
    rows = []
    for n in args.n:
        r = bench_length(args.grammar, n, args.batch, args.repeat)
        rows.append(r)
        print(f"n={n:4d} N={r['nonterminals']:3d} rules={r['binary_rules']:4d}: "
              f"numba {r['numba_sentences_per_s']:9.2f}/s  dense {r['dense_sentences_per_s']:9.2f}/s"
              f"  ratio x{r['ratio_numba_over_dense']:.1f}  (max |diff| {r['max_abs_difference']:.1e});"
              f"  generation {r['generated_sentences_per_s']:.0f}/s,"
              f" posterior samples {r['posterior_samples_per_s']:.1f}/s")
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
