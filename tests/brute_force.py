"""Independent posterior computation by enumerating every datum of a tiny RHM.

Shares nothing with :mod:`hierphase.bp`: it lists all data with their latents
(:func:`hierphase.rhm.enumerate_data`, itself checked against an explicit recursion in
``test_rhm.py``), weights each datum by its prior probability times the product of its leaf
likelihoods, and sums the weights of the data whose latent at (level, node) equals each value.
Every datum's prior is ``1 / n_data`` (uniform class, uniform rule per node, unambiguous grammar).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch


def all_data_recursive(rules) -> list[np.ndarray]:
    """All data with latents by plain recursion over nodes (no tensors), same layout as
    :func:`hierphase.rhm.enumerate_data`, possibly in another order."""
    tables = [t.numpy() for t in rules.tables]
    s, L = rules.s, rules.L
    out = [[] for _ in range(L + 1)]

    def expand(level_vals_by_level):
        level = len(level_vals_by_level) - 1
        if level == L:
            for l, vals in enumerate(level_vals_by_level):
                out[l].append(list(vals))
            return
        parents = level_vals_by_level[-1]
        for ks in itertools.product(range(rules.m), repeat=len(parents)):
            children = []
            for a, k in zip(parents, ks):
                children.extend(int(x) for x in tables[level][a, k])
            expand(level_vals_by_level + [children])

    for c in range(rules.n_classes):
        expand([[c]])
    return [np.array(o, dtype=np.int64) for o in out]


def posterior_by_enumeration(rules, log_evidence: torch.Tensor) -> list[np.ndarray]:
    """Exact posterior marginals (n, s**l, v_l) as float64 numpy arrays, by enumeration."""
    data = all_data_recursive(rules)
    leaves = data[-1]  # (N, d)
    ev = log_evidence.to(torch.float64).numpy()  # (n, d, v)
    n, d, _ = ev.shape
    # log-likelihood of every datum for every evidence row: (n, N)
    loglik = np.zeros((n, leaves.shape[0]))
    for j in range(d):
        loglik += ev[:, j, :][:, leaves[:, j]]
    loglik -= loglik.max(axis=1, keepdims=True)
    weights = np.exp(loglik)
    weights /= weights.sum(axis=1, keepdims=True)
    post = []
    for level, latents in enumerate(data):
        n_vals = rules.n_classes if level == 0 else rules.v
        marg = np.zeros((n, latents.shape[1], n_vals))
        for node in range(latents.shape[1]):
            for val in range(n_vals):
                marg[:, node, val] = weights[:, latents[:, node] == val].sum(axis=1)
        post.append(marg)
    return post
