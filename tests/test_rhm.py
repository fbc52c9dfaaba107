"""hierphase.rhm: rules, trees, enumeration, parsing, (de)serialisation, parameter checks."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from brute_force import all_data_recursive  # noqa: E402

from hierphase import rhm  # noqa: E402

TINY = [(3, 2, 2, 2, None), (4, 2, 2, 3, None), (3, 2, 3, 2, None), (4, 2, 2, 2, 2), (3, 1, 2, 2, 5)]


def _codes(t, v):
    return rhm._encode(t, v).reshape(-1)


@pytest.mark.parametrize("v,m,s,L,nc", TINY + [(32, 8, 2, 4, None), (8, 8, 3, 2, 20)])
def test_rules_shapes_and_unambiguity(v, m, s, L, nc):
    r = rhm.sample_rules(v, m, s, L, n_classes=nc, seed=5)
    assert r.d == s**L and r.n_classes == (v if nc is None else nc)
    assert len(r.tables) == L
    for level, t in enumerate(r.tables):
        n_par = r.n_classes if level == 0 else v
        assert t.dtype == torch.long and tuple(t.shape) == (n_par, m, s)
        assert t.min() >= 0 and t.max() < v
        assert _codes(t, v).unique().numel() == n_par * m  # no tuple twice within a level


def test_rules_deterministic_and_seed_dependent():
    a = rhm.sample_rules(8, 3, 2, 3, seed=1)
    b = rhm.sample_rules(8, 3, 2, 3, seed=1)
    c = rhm.sample_rules(8, 3, 2, 3, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a.tables, b.tables))
    assert not all(torch.equal(x, y) for x, y in zip(a.tables, c.tables))
    # levels use different draws
    assert not torch.equal(a.tables[1], a.tables[2])


def test_rules_rejection_path_unambiguous():
    # v**s above the randperm limit uses the rejection sampler
    r = rhm.sample_rules(64, 4, 5, 1, seed=0)
    assert _codes(r.tables[0], 64).unique().numel() == 64 * 4


def test_rule_tuples_uniform_over_all_tuples():
    # every tuple equally likely to be chosen: v=3 s=2 -> 9 tuples, 6 chosen per level
    counts = torch.zeros(9)
    for seed in range(600):
        counts[_codes(rhm.sample_rules(3, 2, 2, 1, seed=seed).tables[0], 3)] += 1
    expected = 600 * 6 / 9
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 26.1  # chi2 with 8 dof, p = 0.001


# Each message names the parameter, the constraint it breaks and the value it got.
@pytest.mark.parametrize("kwargs,message", [
    (dict(v=1, m=1, s=2, L=2), r"parameter v \(vocabulary size\) must be >= 2, got v=1$"),
    (dict(v=4, m=2, s=1, L=2), r"parameter s \(tuple size\) must be >= 2, got s=1$"),
    (dict(v=4, m=2, s=2, L=0), r"parameter L \(depth\) must be >= 1, got L=0$"),
    (dict(v=4, m=0, s=2, L=2), r"parameter m \(rules per symbol\) must be >= 1, got m=0$"),
    (dict(v=4, m=5, s=2, L=2), r"m <= v\*\*\(s-1\) .* got m=5, v\*\*\(s-1\)=4$"),
    (dict(v=4, m=2, s=2, L=2, n_classes=9), r"n_classes\*m <= v\*\*s .* got n_classes\*m=18, v\*\*s=16$"),
    (dict(v=4, m=2, s=2, L=2, n_classes=0), r"parameter n_classes must be >= 1, got n_classes=0$"),
    (dict(v=4.0, m=2, s=2, L=2), r"parameter v must be an int, got 4\.0$"),
    (dict(v=4, m=2, s=2, L=2, n_classes=2.5), r"parameter n_classes must be an int, got 2\.5$"),
])
def test_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rhm.sample_rules(**kwargs)


def test_trees_follow_rules_and_are_deterministic():
    r = rhm.sample_rules(8, 3, 2, 4, seed=0)
    trees = rhm.sample_trees(r, 50, seed=3)
    assert [tuple(t.shape) for t in trees] == [(50, 2**l) for l in range(5)]
    for level in range(r.L):
        parents = trees[level]
        children = trees[level + 1].reshape(50, -1, 2)
        options = r.tables[level][parents]  # (n, nodes, m, s)
        assert (options == children.unsqueeze(2)).all(-1).any(-1).all()
    again = rhm.sample_trees(r, 50, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(trees, again))
    other = rhm.sample_trees(r, 50, seed=4)
    assert not torch.equal(trees[-1], other[-1])


def test_trees_uniform_over_data():
    # every datum has probability 1/n_data: chi-square over all 24 data of v=3 m=2 s=2 L=2
    r = rhm.sample_rules(3, 2, 2, 2, seed=1)
    data = rhm.enumerate_data(r)[-1]
    trees = rhm.sample_trees(r, 24_000, seed=0)[-1]
    index = {tuple(x.tolist()): i for i, x in enumerate(data)}
    counts = np.bincount([index[tuple(x.tolist())] for x in trees], minlength=len(data))
    expected = 1000.0
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 49.7  # 23 dof, p = 0.001


@pytest.mark.parametrize("v,m,s,L,nc", TINY)
def test_enumerate_matches_recursion(v, m, s, L, nc):
    r = rhm.sample_rules(v, m, s, L, n_classes=nc, seed=7)
    data = rhm.enumerate_data(r)
    ref = all_data_recursive(r)
    assert data[-1].shape[0] == rhm.n_data(r) == ref[-1].shape[0]
    assert torch.unique(data[-1], dim=0).shape[0] == rhm.n_data(r)  # unambiguous: distinct leaves
    key = lambda rows: sorted(map(tuple, rows))  # noqa: E731
    whole = lambda tr: np.concatenate([np.asarray(t) for t in tr], axis=1)  # noqa: E731
    assert key(whole(data)) == key(whole(ref))


def test_enumerate_limit():
    r = rhm.sample_rules(32, 8, 2, 3, seed=0)
    with pytest.raises(ValueError, match="limit"):
        rhm.enumerate_data(r)


@pytest.mark.parametrize("v,m,s,L,nc", TINY + [(16, 4, 2, 5, None)])
def test_parse_recovers_latents(v, m, s, L, nc):
    r = rhm.sample_rules(v, m, s, L, n_classes=nc, seed=2)
    trees = rhm.sample_trees(r, 64, seed=1)
    p = rhm.parse(r, trees[-1])
    assert p.valid.all()
    assert all(torch.equal(a, b) for a, b in zip(p.latents, trees))


def test_parse_flags_invalid_tuples():
    r = rhm.sample_rules(4, 2, 2, 3, seed=0)
    leaves = rhm.sample_trees(r, 1, seed=0)[-1]
    lookup = rhm._parent_lookup(r, r.L - 1)
    bad = int((lookup < 0).nonzero()[0])  # a tuple that is no rule at the last level
    broken = leaves.clone()
    broken[0, 2:4] = torch.tensor([bad // 4, bad % 4])
    p = rhm.parse(r, broken)
    assert not p.valid[0]
    assert p.latents[2][0, 1] == -1 and (p.latents[2][0, [0, 2, 3]] >= 0).all()
    assert p.latents[1][0, 0] == -1 and p.latents[0][0, 0] == -1
    with pytest.raises(ValueError, match="shape"):
        rhm.parse(r, leaves[:, :3])
    with pytest.raises(ValueError, match="leaf values"):
        rhm.parse(r, leaves + 10)


@pytest.mark.parametrize("v, m, s, L, nc", [(8, 3, 2, 3, None), (4, 2, 3, 2, 3), (5, 2, 2, 4, 2)])
def test_level_validity_is_one_on_clean_data(v, m, s, L, nc):
    r = rhm.sample_rules(v, m, s, L, n_classes=nc, seed=3)
    counts = rhm.level_validity(r, rhm.sample_trees(r, 50, seed=4)[-1])
    assert counts.n == 50
    assert counts.checked.tolist() == [50 * s**level for level in range(L)]
    assert torch.equal(counts.rules, counts.checked)
    assert counts.valid_up_to.tolist() == [50] * L


@pytest.mark.parametrize("v, m, s, L, nc", [(3, 2, 2, 2, None), (3, 1, 2, 3, 2), (2, 1, 3, 2, 2)])
def test_level_validity_of_every_token_string_is_the_analytic_value(v, m, s, L, nc):
    """Over ALL v**d token strings (uniformly random tokens, exactly): a leaf tuple is a rule with
    probability q = v m / v**s; a valid tuple's parent is uniform over v, independently across
    tuples, so above the leaves the rule fraction of checked tuples is q again, and the class
    level's is n_classes m / v**s; the parse is valid up to level l with probability
    prod over l' >= l of q_l' ** (s ** l')."""
    r = rhm.sample_rules(v, m, s, L, n_classes=nc, seed=5)
    d = s**L
    every = torch.cartesian_prod(*[torch.arange(v)] * d).reshape(-1, d)
    counts = rhm.level_validity(r, every)
    q = [r.n_symbols(level) * m / v**s for level in range(L)]
    for level in range(L):
        assert counts.rules[level] / counts.checked[level] == pytest.approx(q[level], rel=1e-12)
        up_to = math.prod(q[j] ** (s**j) for j in range(level, L))
        assert counts.valid_up_to[level] / v**d == pytest.approx(up_to, rel=1e-12)
    # the leaves' tuples are all checked; above, only those whose parse below is valid
    assert counts.checked[L - 1] == v**d * s ** (L - 1)
    assert counts.checked[0] == counts.valid_up_to[1]


def test_level_validity_of_one_broken_tuple():
    r = rhm.sample_rules(4, 2, 2, 3, seed=0)
    leaves = rhm.sample_trees(r, 1, seed=0)[-1]
    bad = int((rhm._parent_lookup(r, r.L - 1) < 0).nonzero()[0])
    broken = leaves.clone()
    broken[0, 2:4] = torch.tensor([bad // 4, bad % 4])
    counts = rhm.level_validity(r, torch.cat([leaves, broken]))
    # leaf tuples: 4 + 4 checked, one no rule; level 1: the broken tuple's pair is not checked
    assert counts.checked.tolist() == [1, 3, 8] and counts.rules.tolist() == [1, 3, 7]
    assert counts.valid_up_to.tolist() == [1, 1, 1]


def test_save_load_roundtrip(tmp_path):
    r = rhm.sample_rules(5, 2, 2, 3, n_classes=3, seed=9)
    back = rhm.load_rules(rhm.save_rules(r))
    path = tmp_path / "rules.pt"
    rhm.save_rules(r, path, seed=9)
    from_file = rhm.load_rules(path)
    for other in (back, from_file):
        assert (other.v, other.m, other.s, other.L, other.n_classes) == (5, 2, 2, 3, 3)
        assert all(torch.equal(a, b) for a, b in zip(r.tables, other.tables))
    data = rhm.save_rules(r)
    data["tables"][1][0, 1] = data["tables"][1][0, 0]
    with pytest.raises(ValueError, match="repeats a tuple"):
        rhm.load_rules(data)


def test_tuple_codes_beyond_int64_are_refused_up_front():
    # v**s = 2**64 does not fit the int64 tuple codes: refused before any tensor is made
    with pytest.raises(ValueError, match=r"^RHM parameters must satisfy v\*\*s <= 2\*\*63 - 1"):
        rhm.sample_rules(2**16, 1, 4, 1)
    assert rhm.validate_params(2**21 - 1, 1, 3, 1) == 2**21 - 1  # v**s just below 2**63 fits
    with pytest.raises(ValueError, match=r"v\*\*s"):
        rhm.validate_params(2**21, 1, 3, 1)  # v**s = 2**63 does not (torch.randint's bound)


def test_sample_trees_refuses_a_depth_that_cannot_fit_in_memory():
    deep = rhm.sample_rules(2, 1, 2, 60, seed=0)  # 2**60 leaves per tree
    assert rhm.tree_bytes(deep, 1) == 8 * ((2**61 - 1) + 2 * 2**60)
    with pytest.raises(ValueError, match=r"sample_trees: 1 trees of depth L=60 .* GiB"):
        rhm.sample_trees(deep, 1, seed=0)
    small = rhm.sample_rules(4, 2, 2, 3, seed=0)
    trees = rhm.sample_trees(small, 5, seed=0)
    # the estimate covers what the trees themselves hold
    assert rhm.tree_bytes(small, 5) >= sum(t.numel() * t.element_size() for t in trees)
