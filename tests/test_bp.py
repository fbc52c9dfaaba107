"""hierphase.bp: exactness against brute-force enumeration, exact posterior sampling (statistical
tests at fixed seeds), sanity limits, numerical stability and errors. Both backends."""

import math
import os
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from brute_force import all_data_recursive, posterior_by_enumeration  # noqa: E402

from hierphase import bp, noise, rhm  # noqa: E402
from hierphase.observables import kept_fraction, true_latent_probability  # noqa: E402

BACKENDS = ["numba", "torch"]
TINY = {  # v, m, s, L, n_classes
    "v3m2s2L2": (3, 2, 2, 2, None),
    "v4m2s2L3": (4, 2, 2, 3, None),
    "v3m2s3L2": (3, 2, 3, 2, None),
    "v4m2s2L2nc2": (4, 2, 2, 2, 2),
    "v3m1s2L2nc5": (3, 1, 2, 2, 5),
}
EVIDENCE = ["random", "epsilon", "gaussian", "masking", "uniform"]


def _evidence(kind, rules, n, seed):
    """Evidence of each noise type from data of the RHM (random levels), or random log-likelihoods."""
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        return torch.randn((n, rules.d, rules.v), generator=g, dtype=torch.float64) * 2.0
    leaves = rhm.sample_trees(rules, n, seed=seed)[-1]
    level = float(torch.rand((), generator=g)) * 0.8 + 0.1
    rows = [noise.forward_evidence(kind, leaves[i:i + 1], rules.v, level, seed=seed + i,
                                   schedule=noise.GaussianSchedule(T=100))
            for i in range(n)]
    return torch.cat(rows)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", EVIDENCE)
@pytest.mark.parametrize("name", list(TINY))
def test_marginals_equal_brute_force(name, kind, backend):
    v, m, s, L, nc = TINY[name]
    rules = rhm.sample_rules(v, m, s, L, n_classes=nc, seed=11)
    ev = _evidence(kind, rules, 6, seed=zlib.crc32(f"{name}/{kind}".encode()) % 1000)
    got = bp.marginals(rules, ev, backend=backend)
    ref = posterior_by_enumeration(rules, ev)
    assert len(got) == L + 1
    for level, (a, b) in enumerate(zip(got, ref)):
        assert a.dtype == torch.float64 and tuple(a.shape) == b.shape
        err = float(np.abs(a.numpy() - b).max())
        assert err < 1e-9, f"level {level}: max error {err}"


def _joint_test(rules, ev_row, backend, n, seed):
    """Chi-square of posterior samples of whole data against the brute-force posterior."""
    data = all_data_recursive(rules)
    leaves = data[-1]
    loglik = sum(ev_row[j, leaves[:, j]].numpy() for j in range(rules.d))
    post = np.exp(loglik - loglik.max())
    post /= post.sum()
    samples = bp.sample_posterior(rules, ev_row.expand(n, -1, -1), seed=seed, backend=backend)
    # each sample's latent tree must be the parse of its leaves
    parsed = rhm.parse(rules, samples[-1])
    assert parsed.valid.all()
    assert all(torch.equal(a, b) for a, b in zip(parsed.latents, samples))
    index = {tuple(x): i for i, x in enumerate(leaves.tolist())}
    counts = np.bincount([index[tuple(x)] for x in samples[-1].tolist()], minlength=len(leaves))
    expected = post * n
    big = expected >= 5  # pool the rare data into one bin
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    if exp[-1] < 5:
        obs, exp = obs[:-1], exp[:-1]
        obs[-1] += counts[~big].sum()
        exp[-1] += expected[~big].sum()
    chi2 = float(((obs - exp) ** 2 / exp).sum())
    return chi2, len(obs) - 1, samples


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["v3m2s2L2", "v3m2s3L2", "v4m2s2L2nc2"])
def test_posterior_samples_follow_exact_posterior(name, backend):
    """Stated tolerance: chi-square over all data below its 0.999 quantile, and every per-level
    marginal frequency within 5 standard errors of ``marginals`` (fixed seeds)."""
    v, m, s, L, nc = TINY[name]
    rules = rhm.sample_rules(v, m, s, L, n_classes=nc, seed=4)
    ev_row = torch.randn((1, rules.d, v), generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)[0]
    n = 20000
    chi2, dof, samples = _joint_test(rules, ev_row, backend, n, seed=5)
    assert chi2 < stats.chi2.ppf(0.999, dof), (chi2, dof)
    marg = bp.marginals(rules, ev_row.unsqueeze(0), backend=backend)
    for level, sam in enumerate(samples):
        n_vals = rules.n_symbols(level)
        freq = torch.nn.functional.one_hot(sam, n_vals).double().mean(0)  # (nodes, n_vals)
        p = marg[level][0]
        tol = 5 * torch.sqrt(p * (1 - p) / n) + 1e-12
        assert ((freq - p).abs() <= tol).all(), level


def test_backends_give_identical_samples():
    rules = rhm.sample_rules(8, 3, 2, 5, seed=2)
    trees = rhm.sample_trees(rules, 300, seed=0)
    ev = noise.forward_evidence("gaussian", trees[-1], 8, 0.6, seed=1)
    a = bp.sample_posterior(rules, ev, seed=3, backend="numba")
    b = bp.sample_posterior(rules, ev, seed=3, backend="torch")
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    ma = bp.marginals(rules, ev, backend="numba")
    mb = bp.marginals(rules, ev, backend="torch")
    assert max(float((x - y).abs().max()) for x, y in zip(ma, mb)) < 1e-12


@pytest.mark.parametrize("s", [2, 3])
@pytest.mark.parametrize("backend", BACKENDS)
def test_repeated_samples_equal_samples_of_repeated_evidence(backend, s):
    """n_samples=k shares one upward pass per datum: bit for bit the single samples of the
    evidence repeated k times (same seed), on both backends; k=1 is the plain call."""
    rules = rhm.sample_rules(6, 3, s, 3 if s == 2 else 2, seed=4)
    trees = rhm.sample_trees(rules, 37, seed=0)  # not a multiple of the kernel's block
    ev = noise.forward_evidence("gaussian", trees[-1], 6, 0.5, seed=2)
    k = 5
    got = bp.sample_posterior(rules, ev, seed=9, backend=backend, n_samples=k)
    ref = bp.sample_posterior(rules, ev.repeat_interleave(k, 0), seed=9, backend="torch")
    for x, y in zip(got, ref):
        assert x.shape == (37, k, y.shape[1])
        assert torch.equal(x.reshape(-1, y.shape[1]), y)
    # one datum per call (a kernel block of one): its uniforms are the batched call's first k
    # rows, so it must draw what the batched call drew for datum 0
    first = bp.sample_posterior(rules, ev[:1], seed=9, backend=backend, n_samples=k)
    assert all(torch.equal(x, y[:1]) for x, y in zip(first, got))
    one = bp.sample_posterior(rules, ev, seed=9, backend=backend, n_samples=1)
    plain = bp.sample_posterior(rules, ev, seed=9, backend=backend)
    assert all(torch.equal(x[:, 0], y) for x, y in zip(one, plain))
    # the k samples of one datum differ (fresh top-down draws) for a noisy datum
    assert not all(torch.equal(got[-1][:, 0], got[-1][:, j]) for j in range(1, k))
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="n_samples"):
            bp.sample_posterior(rules, ev, seed=9, backend=backend, n_samples=bad)


def test_sampling_deterministic_in_seed():
    rules = rhm.sample_rules(8, 3, 2, 4, seed=2)
    ev = noise.epsilon_evidence(rhm.sample_trees(rules, 50, seed=0)[-1], 0.7, 8)
    a = bp.sample_posterior(rules, ev, seed=1)
    b = bp.sample_posterior(rules, ev, seed=1)
    c = bp.sample_posterior(rules, ev, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[-1], c[-1])
    assert all(x.dtype == torch.long for x in a)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mean_true_probability_equals_kept_rate(backend):
    """Forward-backward: the rate at which samples keep each level's latent equals the mean
    posterior probability of the true latent, within 4 standard errors (fixed seeds)."""
    rules = rhm.sample_rules(8, 3, 2, 4, seed=0)
    n = 4000
    trees = rhm.sample_trees(rules, n, seed=1)
    ev = noise.epsilon_evidence(trees[-1], 0.7, 8)  # near eps* = 0.686: class kept ~ half the time
    p_true = true_latent_probability(bp.marginals(rules, ev, backend=backend), trees)
    kept = kept_fraction(bp.sample_posterior(rules, ev, seed=2, backend=backend), trees)
    p0 = p_true[0][:, 0]
    assert 0.2 < float(p0.mean()) < 0.9
    z = float((kept[0] - p0).sum() / torch.sqrt((p0 * (1 - p0)).sum()))
    assert abs(z) < 4, z
    for level in range(1, rules.L + 1):
        diff = (kept[level] - p_true[level].mean(1)).numpy()
        z = diff.mean() / (diff.std(ddof=1) / math.sqrt(n))
        assert abs(z) < 4, (level, z)


@pytest.mark.parametrize("process", noise.FORWARD_PROCESSES)
def test_zero_noise_keeps_everything(process):
    rules = rhm.sample_rules(16, 4, 2, 4, seed=0)
    trees = rhm.sample_trees(rules, 64, seed=0)
    ev = noise.forward_evidence(process, trees[-1], 16, 0.0, seed=0)
    p_true = true_latent_probability(bp.marginals(rules, ev), trees)
    assert all(torch.allclose(p, torch.ones_like(p), atol=1e-12, rtol=0) for p in p_true)
    samples = bp.sample_posterior(rules, ev, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(samples, trees))


@pytest.mark.parametrize("process,level", [("epsilon", 1.0), ("masking", 1.0)])
@pytest.mark.parametrize("nc", [None, 5])
def test_full_noise_keeps_class_at_chance(process, level, nc):
    rules = rhm.sample_rules(8, 3, 2, 3, n_classes=nc, seed=0)
    n = 4000
    trees = rhm.sample_trees(rules, n, seed=0)
    ev = noise.forward_evidence(process, trees[-1], 8, level, seed=0)
    root = bp.marginals(rules, ev)[0]
    assert torch.allclose(root, torch.full_like(root, 1 / rules.n_classes), atol=1e-12, rtol=0)
    kept = kept_fraction(bp.sample_posterior(rules, ev, seed=1), trees)[0]
    p = 1 / rules.n_classes
    assert abs(float(kept.mean()) - p) < 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("v,m,L,process", [(16, 4, 12, "gaussian"), (32, 8, 10, "epsilon"),
                                           (32, 8, 10, "uniform")])
def test_deep_trees_stay_finite(v, m, L, process):
    rules = rhm.sample_rules(v, m, 2, L, seed=0)
    trees = rhm.sample_trees(rules, 3, seed=0)
    ev = noise.forward_evidence(process, trees[-1], v, 0.5, seed=0)
    for backend in BACKENDS:
        marg = bp.marginals(rules, ev, backend=backend)
        for mg in marg:
            assert torch.isfinite(mg).all()
            assert torch.allclose(mg.sum(-1), torch.ones(mg.shape[:-1], dtype=torch.float64))
        samples = bp.sample_posterior(rules, ev, seed=0, backend=backend)
        assert rhm.parse(rules, samples[-1]).valid.all()


def test_errors():
    rules = rhm.sample_rules(4, 2, 2, 3, seed=0)
    good = noise.epsilon_evidence(rhm.sample_trees(rules, 2, seed=0)[-1], 0.5, 4)
    with pytest.raises(ValueError, match="shape"):
        bp.marginals(rules, good[:, :4])
    with pytest.raises(ValueError, match="backend"):
        bp.marginals(rules, good, backend="jax")
    nan = good.clone()
    nan[0, 0] = float("nan")
    for backend in BACKENDS:
        with pytest.raises(ValueError, match="finite"):
            bp.marginals(rules, nan, backend=backend)
    # clean evidence of a datum that the grammar cannot produce
    lookup = rhm._parent_lookup(rules, rules.L - 1)
    bad = int((lookup < 0).nonzero()[0])
    leaves = rhm.sample_trees(rules, 1, seed=0)[-1].clone()
    leaves[0, :2] = torch.tensor([bad // 4, bad % 4])
    impossible = noise.epsilon_evidence(leaves, 0.0, 4)
    for backend in BACKENDS:
        with pytest.raises(ValueError, match="incompatible"):
            bp.marginals(rules, impossible, backend=backend)
        with pytest.raises(ValueError, match="incompatible"):
            bp.sample_posterior(rules, impossible, seed=0, backend=backend)


def test_float32_torch_path():
    rules = rhm.sample_rules(8, 3, 2, 4, seed=0)
    ev = noise.epsilon_evidence(rhm.sample_trees(rules, 8, seed=0)[-1], 0.5, 8)
    m32 = bp.marginals(rules, ev, dtype=torch.float32)
    m64 = bp.marginals(rules, ev)
    assert m32[0].dtype == torch.float32
    assert max(float((a.double() - b).abs().max()) for a, b in zip(m32, m64)) < 1e-5


def test_class_curve_sharpens_towards_step_and_matches_mean_field():
    """v=32 m=8 s=2: below eps* = 0.7312 deeper trees keep the class more, above it less; the
    exact mean posterior probability of the true class is within 0.05 of the mean-field curve
    (256 data per point, fixed seeds; full table: benchmarks/step_curve.py)."""
    from hierphase import theory

    kept = {}
    for L in (2, 8):
        rules = rhm.sample_rules(32, 8, 2, L, seed=0)
        trees = rhm.sample_trees(rules, 256, seed=1)
        for eps in (0.5, 0.85):
            post = bp.class_posterior(rules, noise.epsilon_evidence(trees[-1], eps, 32))
            kept[L, eps] = float(torch.gather(post, 1, trees[0]).mean())
            assert kept[L, eps] == pytest.approx(
                float(theory.class_reconstruction(eps, 32, 8, 2, L)), abs=0.05)
            torch_post = bp.class_posterior(rules, noise.epsilon_evidence(trees[-1][:8], eps, 32),
                                            backend="torch")
            assert torch.allclose(torch_post, post[:8], atol=1e-12, rtol=0)
    assert kept[8, 0.5] > kept[2, 0.5] + 0.2
    assert kept[8, 0.85] < kept[2, 0.85] - 0.05


def test_level_curves_match_mean_field():
    """Every level's mean posterior probability of the true latent (exact BP, 256 data, fixed
    seeds) is within 0.03 of the per-level mean-field curve, v=32 m=8 s=2 L=6."""
    from hierphase import theory

    rules = rhm.sample_rules(32, 8, 2, 6, seed=0)
    trees = rhm.sample_trees(rules, 256, seed=1)
    for eps in (0.3, 0.6, 0.75, 0.9, 1.0):
        marg = bp.marginals(rules, noise.epsilon_evidence(trees[-1], eps, 32))
        exact = np.array([float(p.mean()) for p in true_latent_probability(marg, trees)])
        mf = theory.level_reconstruction(eps, 32, 8, 2, 6)
        assert np.abs(exact - mf).max() < 0.03, (eps, exact, mf)


#: Run in a fresh interpreter with NUMBA_NUM_THREADS=2: the numba backend's samples and marginals
#: of the rules and evidence saved in argv[1], written to argv[2].
TWO_THREADS = """
import sys, numba, torch
from hierphase import bp, rhm
assert numba.get_num_threads() == 2, numba.get_num_threads()
rules, ev = torch.load(sys.argv[1])
rules = rhm.load_rules(rules)
torch.save((bp.sample_posterior(rules, ev, seed=4, backend="numba"),
            bp.marginals(rules, ev, backend="numba")), sys.argv[2])
"""


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_independent_of_thread_count_and_empty_batch(tmp_path):
    """The numba backend with one thread here and with two in a fresh interpreter (the thread
    count is fixed when numba loads): the same samples and marginals, to the bit."""
    import subprocess

    import numba

    rules = rhm.sample_rules(8, 3, 2, 5, seed=1)
    trees = rhm.sample_trees(rules, 100, seed=0)
    ev = noise.forward_evidence("uniform", trees[-1], 8, 0.5, seed=0)
    torch.save((rhm.save_rules(rules), ev), tmp_path / "case.pt")
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    subprocess.run([sys.executable, "-c", TWO_THREADS, str(tmp_path / "case.pt"),
                    str(tmp_path / "two.pt")], env=env, check=True)
    two = torch.load(tmp_path / "two.pt")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = (bp.sample_posterior(rules, ev, seed=4, backend="numba"),
               bp.marginals(rules, ev, backend="numba"))
    finally:
        numba.set_num_threads(before)
    assert all(torch.equal(a, b) for a, b in zip(one[0], two[0]))
    assert all(torch.equal(a, b) for a, b in zip(one[1], two[1]))
    # a datum's sample does not depend on the rest of the batch
    part = bp.sample_posterior(rules, ev[:37], seed=4)
    assert all(torch.equal(a, b[:37]) for a, b in zip(part, one[0]))
    empty = bp.sample_posterior(rules, ev[:0], seed=0)
    assert [tuple(t.shape) for t in empty] == [(0, 2**l) for l in range(6)]
    assert [tuple(m.shape) for m in bp.marginals(rules, ev[:0])] == [(0, 2**l, 8) for l in range(6)]


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_compile_kernels_prepares_the_numba_backend():
    """with-env.sh calls it after installing; afterwards the numba path gives the torch path's
    marginals."""
    assert bp.compile_kernels() is True
    rules = rhm.sample_rules(4, 2, 3, 2, seed=5)
    ev = noise.forward_evidence("epsilon", rhm.sample_trees(rules, 7, seed=1)[-1], 4, 0.4, seed=2)
    for a, b in zip(bp.marginals(rules, ev, backend="numba"), bp.marginals(rules, ev, backend="torch")):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- kept_observables
def _two_call(rules, ev, trees, seed, backend):
    """What the sweeps computed before the fused kernel: marginals and a sample, two BP calls."""
    p_true = true_latent_probability(bp.marginals(rules, ev, backend=backend), trees)
    return ([p.to(torch.float64).mean(dim=1) for p in p_true],
            kept_fraction(bp.sample_posterior(rules, ev, seed=seed, backend=backend), trees))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", EVIDENCE[1:])
@pytest.mark.parametrize("name", list(TINY))
def test_kept_observables_equal_brute_force_and_two_call_path(name, kind, backend):
    """Tiny models: the true-latent probabilities equal the enumerated posterior at the true
    latents (1e-12), and the fused call equals marginals + sample_posterior: the probabilities to
    1e-12 (bit for bit on the numba backend) and the kept fractions bit for bit (same uniforms)."""
    v, m, s, L, nc = TINY[name]
    rules = rhm.sample_rules(v, m, s, L, n_classes=nc, seed=11)
    seed = zlib.crc32(f"kept/{name}/{kind}".encode()) % 1000
    trees = rhm.sample_trees(rules, 40, seed=seed)
    g = torch.Generator().manual_seed(seed)
    level = float(torch.rand((), generator=g)) * 0.8 + 0.1
    ev = noise.forward_evidence(kind, trees[-1], rules.v, level, seed=seed,
                                schedule=noise.GaussianSchedule(T=100))
    got = bp.kept_observables(rules, ev, trees, seed=5, backend=backend)
    ref = posterior_by_enumeration(rules, ev)
    for level_, (p, post, tr) in enumerate(zip(got.true_probability, ref, trees)):
        exact = np.take_along_axis(post, tr.numpy()[..., None], -1)[..., 0].mean(1)
        assert np.abs(p.numpy() - exact).max() < 1e-12, f"level {level_}"
    p_ref, k_ref = _two_call(rules, ev, trees, 5, backend)
    for a, b in zip(got.true_probability, p_ref):
        assert float((a - b).abs().max()) < 1e-12
        if backend == "numba":
            assert torch.equal(a, b)
    assert all(torch.equal(a, b) for a, b in zip(got.kept, k_ref))


@pytest.mark.parametrize("process", ["epsilon", "gaussian", "masking"])
def test_kept_observables_equal_two_call_path_at_paper_size(process):
    """v=32 m=8 s=2 L=8, 70 data (two blocks and a partial one): fused numba kernel, two-call
    numba path and the torch two-call reference agree (numba: bit for bit)."""
    rules = rhm.sample_rules(32, 8, 2, 8, seed=3)
    trees = rhm.sample_trees(rules, 70, seed=4)
    ev = noise.forward_evidence(process, trees[-1], 32, 0.7 if process == "epsilon" else 0.2,
                                seed=6)
    fused = bp.kept_observables(rules, ev, trees, seed=8)
    p_ref, k_ref = _two_call(rules, ev, trees, 8, "numba")
    assert all(torch.equal(a, b) for a, b in zip(fused.true_probability + fused.kept,
                                                  p_ref + k_ref))
    torch_ref = bp.kept_observables(rules, ev, trees, seed=8, backend="torch")
    assert max(float((a - b).abs().max())
               for a, b in zip(fused.true_probability, torch_ref.true_probability)) < 1e-12
    assert all(torch.equal(a, b) for a, b in zip(fused.kept, torch_ref.kept))
    assert [tuple(p.shape) for p in fused.true_probability] == [(70,)] * 9


def test_kept_observables_float32_is_close():
    rules = rhm.sample_rules(32, 8, 2, 6, seed=3)
    trees = rhm.sample_trees(rules, 64, seed=4)
    ev = noise.epsilon_evidence(trees[-1], 0.7, 32)
    f64 = bp.kept_observables(rules, ev, trees, seed=8)
    f32 = bp.kept_observables(rules, ev, trees, seed=8, dtype=torch.float32)
    assert all(p.dtype == torch.float64 for p in f32.true_probability)
    assert max(float((a - b).abs().max())
               for a, b in zip(f64.true_probability, f32.true_probability)) < 1e-5
    # the kept fractions of one sample each may differ where a draw sits on a rounding edge
    assert max(abs(float(a.mean() - b.mean())) for a, b in zip(f64.kept, f32.kept)) < 0.02


def test_kept_observables_errors():
    rules = rhm.sample_rules(4, 2, 2, 3, seed=0)
    trees = rhm.sample_trees(rules, 3, seed=0)
    ev = noise.epsilon_evidence(trees[-1], 0.5, 4)
    with pytest.raises(ValueError, match="levels"):
        bp.kept_observables(rules, ev, trees[:-1], seed=0)
    with pytest.raises(ValueError, match="shape"):
        bp.kept_observables(rules, ev, [t[:2] for t in trees], seed=0)
    bad = [t.clone() for t in trees]
    bad[2][0, 0] = 4
    with pytest.raises(ValueError, match="outside"):
        bp.kept_observables(rules, ev, bad, seed=0)
    with pytest.raises(ValueError, match="dtype"):
        bp.kept_observables(rules, ev, trees, seed=0, dtype=torch.float16)
    nan = ev.clone()
    nan[0, 0] = float("nan")
    for backend in BACKENDS:
        with pytest.raises(ValueError, match="finite"):
            bp.kept_observables(rules, nan, trees, seed=0, backend=backend)
