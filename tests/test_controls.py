"""hierphase.controls: the Gaussian field and the flat mixture against dense Gaussian conditioning,
brute-force enumeration and their closed forms."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from hierphase.controls import (FlatMixture, GaussianField, RandomCode, class_half_point,
                                class_kept_epsilon, code_rate, code_size,
                                permuted_leaf_correlations, random_code_correlations,
                                scale_for_half_point)
from hierphase.correlations import (change_spins, continuous_changes, lattice_correlations,
                                    lattice_pair_sums)
from hierphase.noise import GaussianSchedule, epsilon_evidence, forward_evidence

#: A per-entry deviation this many standard errors away fails a statistical check. Every check
#: below runs at a fixed seed, so it is deterministic; with at most a few hundred entries per
#: check, a correct sampler exceeds 5 standard errors with probability < 1e-4.
Z_MAX = 5.0


# ----------------------------------------------------------------------------- Gaussian field
def dense_covariance(field):
    """The (N, N) covariance matrix of the sites, in C order, from ``field.covariance()``."""
    cov = field.covariance()
    coords = np.indices(field.shape).reshape(len(field.shape), -1)
    delta = [(coords[a][None, :] - coords[a][:, None]) % n for a, n in enumerate(field.shape)]
    return cov[tuple(delta)]


def naive_covariance(field):
    """C(delta) = (1/N) sum_k S(k) cos(k . delta), summed mode by mode."""
    S, N = field.spectrum, math.prod(field.shape)
    out = np.zeros(field.shape)
    for delta in np.ndindex(*field.shape):
        for m in np.ndindex(*field.shape):
            phase = sum(2 * np.pi * mi * di / n for mi, di, n in zip(m, delta, field.shape))
            out[delta] += S[m] * np.cos(phase) / N
    return out


@pytest.mark.parametrize("shape,exponent", [((8,), 1.0), ((7,), 2.0), ((3, 4), 1.5), ((5, 5), 0.0)])
def test_spectrum_and_covariance_closed_form(shape, exponent):
    field = GaussianField(shape, exponent)
    S, k = field.spectrum, field.wavenumber
    assert S.flat[0] == 0.0 and k.flat[0] == 0.0
    assert S.mean() == pytest.approx(1.0, abs=1e-14)
    nonzero = k > 0
    ratio = S[nonzero] * k[nonzero] ** exponent  # S ∝ |k|^-a: a constant
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    # S is even in k (S(-k) = S(k)), so the field is real
    flipped = S
    for axis in range(len(shape)):
        flipped = np.roll(np.flip(flipped, axis=axis), 1, axis=axis)
    np.testing.assert_array_equal(S, flipped)
    cov = field.covariance()
    assert cov.flat[0] == pytest.approx(1.0, abs=1e-14)  # unit per-site variance
    np.testing.assert_allclose(cov, naive_covariance(field), atol=1e-13)
    assert np.linalg.eigvalsh(dense_covariance(field)).min() > -1e-12  # a covariance


@pytest.mark.parametrize("shape,exponent", [((12,), 1.5), ((4, 5), 2.0)])
def test_sampler_matches_closed_form_covariance(shape, exponent):
    field = GaussianField(shape, exponent)
    n = 20_000
    z = field.sample(n, seed=3)
    assert z.shape == (n, *shape) and z.dtype == np.float64
    flat = z.reshape(n, -1)
    # the k = 0 mode is empty: every sample has spatial mean 0
    np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=1e-12)
    sigma = dense_covariance(field)
    empirical = flat.T @ flat / n  # the mean is known to be 0
    # standard error of a sample covariance of Gaussians: sqrt((S_ii S_jj + S_ij^2) / n)
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / n)
    assert np.max(np.abs(empirical - sigma) / se) < Z_MAX
    # the statistic is sensitive: the covariance of another exponent fails it
    other = dense_covariance(GaussianField(shape, exponent + 1.0))
    assert np.max(np.abs(empirical - other) / se) > 3 * Z_MAX


def dense_conditional(sigma, z_t, abar):
    """Mean and covariance of z0 | z_t = sqrt(abar) z0 + sqrt(1 - abar) eta, z0 ~ N(0, sigma)."""
    gram = abar * sigma + (1 - abar) * np.eye(len(sigma))
    gain = math.sqrt(abar) * sigma @ np.linalg.inv(gram)
    return gain @ z_t, sigma - math.sqrt(abar) * gain @ sigma


@pytest.mark.parametrize("shape", [(8,), (7,), (3, 4)])
@pytest.mark.parametrize("abar", [0.0, 0.05, 0.3, 0.9, 0.999])
def test_posterior_mean_and_covariance_equal_dense_conditioning(shape, abar):
    field = GaussianField(shape, 1.0)
    z0 = field.sample(1, seed=1)
    z_t = field.noise(z0, abar, seed=2)
    mean, cov = dense_conditional(dense_covariance(field), z_t.ravel(), abar)
    np.testing.assert_allclose(field.posterior_mean(z_t, abar).ravel(), mean, atol=1e-12)
    post_cov = field.posterior_covariance(abar)
    coords = np.indices(shape).reshape(len(shape), -1)
    delta = [(coords[a][None, :] - coords[a][:, None]) % n for a, n in enumerate(shape)]
    np.testing.assert_allclose(post_cov[tuple(delta)], cov, atol=1e-12)


@pytest.mark.parametrize("abar", [0.1, 0.6])
def test_posterior_samples_match_dense_conditional(abar):
    field = GaussianField((8,), 2.0)
    z_t = field.noise(field.sample(1, seed=4), abar, seed=5)[0]
    mean, cov = dense_conditional(dense_covariance(field), z_t, abar)
    n = 40_000
    draws = field.posterior_sample(np.broadcast_to(z_t, (n, 8)), abar, seed=6)
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.max(np.abs(draws.mean(axis=0) - mean) / se_mean) < Z_MAX
    centred = draws - mean  # the true mean, so the sample covariance is unbiased
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.max(np.abs(centred.T @ centred / n - cov) / se_cov) < Z_MAX
    # the draws are not the prior: its covariance fails the same check
    prior = dense_covariance(field)
    assert np.max(np.abs(centred.T @ centred / n - prior) / se_cov) > 3 * Z_MAX


def test_forward_backward_at_t0_returns_z0_exactly_and_is_seeded():
    field = GaussianField((6, 5), 1.0)
    schedule = GaussianSchedule()
    z0 = field.sample(3, seed=0)
    out = field.forward_backward(z0, schedule, 0, n_traj=4, seed=9)
    assert out.shape == (3, 4, 6, 5)
    assert np.array_equal(out, np.broadcast_to(z0[:, None], out.shape))
    late = field.forward_backward(z0, schedule, 500, n_traj=4, seed=9)
    assert np.array_equal(late, field.forward_backward(z0, schedule, 500, n_traj=4, seed=9))
    assert not np.array_equal(late, field.forward_backward(z0, schedule, 500, n_traj=4, seed=10))
    assert not np.array_equal(late[:, 0], late[:, 1])  # fresh noise per trajectory
    # one step in: close to z0 but not equal (the highest modes are already resampled a little)
    first = field.forward_backward(z0, schedule, 1, n_traj=4, seed=9)
    assert 0 < np.abs(first - z0[:, None]).max() < 0.1


@pytest.mark.parametrize("exponent", [1.0, 2.0])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_gaussian_field_chi_grows_with_t_and_peaks_at_T(exponent):
    """The control's expected behaviour: no peak; chi and xi grow with t and are largest when
    everything is resampled from the prior, at t = T.

    The grid starts at t/T = 0.1: before, the noise (1 - abar)/abar is below every S(k), the
    difference z0 - ẑ is nearly white on every mode and chi sits flat at about 1 (measured with
    2000 x0: 1.013 for t/T in 0.005-0.05 at exponent 1), too flat to order by sampling. Near T
    the curve flattens too (chi(0.9) - chi(1) = -0.002 at exponent 1, significant with 2000 x0
    only), hence the wider last step."""
    field = GaussianField((64,), exponent)
    schedule = GaussianSchedule()
    z0 = field.sample(400, seed=11)
    grid = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0]
    chi, xi = [], []
    for level in grid:
        z_hat = field.forward_backward(z0, schedule, schedule.step(level), n_traj=32, seed=12)
        out = lattice_correlations(continuous_changes(z0, z_hat), periodic=True, n_boot=1,
                                   seed=0).susceptibility
        chi.append(float(out.chi.iloc[0]))
        xi.append(float(out.xi.iloc[0]))
    assert np.all(np.diff(chi) > 0), chi
    assert int(np.argmax(chi)) == len(grid) - 1
    # xi from t/T = 0.2: at 0.1 the few co-fluctuations are still mostly the slight
    # anticorrelation of a zero-mean difference, whose r**2-weighted sum can make xi undefined
    assert np.all(np.diff(xi[1:]) > 0), xi


def test_gaussian_field_refuses_bad_arguments():
    with pytest.raises(ValueError, match="1 or 2 axes"):
        GaussianField((2, 2, 2), 1.0)
    with pytest.raises(ValueError, match="exponent"):
        GaussianField((8,), -1.0)
    with pytest.raises(ValueError, match=">= 2 sites"):
        GaussianField((1,), 1.0)
    field = GaussianField(8, 1.0)
    assert field.shape == (8,)
    with pytest.raises(ValueError, match="abar"):
        field.posterior_mean(np.zeros((1, 8)), 1.5)
    with pytest.raises(ValueError, match="z0 must have shape"):
        field.forward_backward(np.zeros((2, 7)), GaussianSchedule(), 3, 2, 0)


# ----------------------------------------------------------------------------- flat mixture
def tiny_mixture():
    """v = 3, n_classes = 2; class 0 cannot emit symbol 2."""
    q = torch.tensor([[0.6, 0.4, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    return FlatMixture(torch.log(q))


def brute_force_joint(mixture, log_evidence):
    """p(c, x | obs) for every class c and token string x of one datum, by enumeration."""
    q = torch.exp(mixture.log_probs).numpy()
    e = np.exp(np.asarray(log_evidence, dtype=np.float64))
    d, v = e.shape
    outcomes, weights = [], []
    for c in range(mixture.n_classes):
        for x in itertools.product(range(v), repeat=d):
            outcomes.append((c, *x))
            weights.append(np.prod([q[c, xi] * e[i, xi] for i, xi in enumerate(x)])
                           / mixture.n_classes)
    weights = np.array(weights)
    return outcomes, weights / weights.sum()


def tiny_evidences():
    rng = np.random.default_rng(0)
    tokens = torch.tensor([[0, 1, 0], [2, 2, 1], [1, 0, 2]])
    return {
        "random": torch.tensor(rng.normal(size=(3, 3, 3))),
        "epsilon": epsilon_evidence(tokens, 0.6, 3),
        "masking": forward_evidence("masking", tokens, 3, 0.5, seed=1),
        "gaussian": forward_evidence("gaussian", tokens, 3, 0.1, seed=1),
    }


@pytest.mark.parametrize("kind", ["random", "epsilon", "masking", "gaussian"])
def test_class_posterior_equals_brute_force(kind):
    mixture = tiny_mixture()
    e = tiny_evidences()[kind]
    post = torch.exp(mixture.class_log_posterior(e)).numpy()
    for row in range(e.shape[0]):
        outcomes, p = brute_force_joint(mixture, e[row])
        by_class = [p[[o[0] == c for o in outcomes]].sum() for c in range(2)]
        np.testing.assert_allclose(post[row], by_class, atol=1e-12)


@pytest.mark.parametrize("kind", ["random", "epsilon", "gaussian"])
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_posterior_sample_distribution_equals_brute_force(kind):
    mixture = tiny_mixture()
    e = tiny_evidences()[kind][1]
    outcomes, p = brute_force_joint(mixture, e)
    n = 40_000
    classes, tokens = mixture.posterior_sample(e.expand(n, -1, -1), seed=5)
    assert classes.shape == (n,) and tokens.shape == (n, 3)
    index = {o: i for i, o in enumerate(outcomes)}
    counts = np.bincount([index[(int(c), *map(int, x))] for c, x in zip(classes, tokens)],
                         minlength=len(outcomes))
    assert counts[p == 0].sum() == 0  # nothing impossible is ever drawn
    big = p * n >= 5  # chi-square on the cells with enough expected counts, the rest pooled
    observed = np.append(counts[big], counts[~big].sum())
    expected = np.append(p[big], p[~big].sum()) * n
    keep = expected > 0
    assert stats.chisquare(observed[keep], expected[keep]).pvalue > 1e-3
    # and the test has power: a sampler that ignores the evidence fails it
    prior_classes, prior_tokens = mixture.sample(n, 3, seed=6)
    wrong = np.bincount([index[(int(c), *map(int, x))] for c, x in
                         zip(prior_classes, prior_tokens)], minlength=len(outcomes))
    wrong_obs = np.append(wrong[big], wrong[~big].sum())
    assert stats.chisquare(wrong_obs[keep], expected[keep] * wrong_obs[keep].sum()
                           / expected[keep].sum()).pvalue < 1e-6


def test_sampler_draws_class_then_tokens_from_q():
    mixture = FlatMixture.from_seed(v=5, n_classes=3, scale=1.0, seed=2)
    classes, tokens = mixture.sample(30_000, 4, seed=3)
    assert tokens.shape == (30_000, 4) and tokens.dtype == torch.long
    class_counts = np.bincount(classes.numpy(), minlength=3)
    assert stats.chisquare(class_counts).pvalue > 1e-3
    q = torch.exp(mixture.log_probs).numpy()
    for c in range(3):
        counts = np.bincount(tokens[classes == c].ravel().numpy(), minlength=5)
        assert stats.chisquare(counts, q[c] * counts.sum()).pvalue > 1e-3


def test_from_seed_rows_are_softmax_of_one_draw_of_logits():
    a = FlatMixture.from_seed(v=32, n_classes=4, scale=0.5, seed=7)
    b = FlatMixture.from_seed(v=32, n_classes=4, scale=1.0, seed=7)
    torch.testing.assert_close(torch.exp(a.log_probs).sum(1), torch.ones(4, dtype=torch.float64))
    # log q = scale * g - logsumexp: the centred logits scale with `scale`
    centred = [m.log_probs - m.log_probs.mean(1, keepdim=True) for m in (a, b)]
    torch.testing.assert_close(2 * centred[0], centred[1])
    uniform = FlatMixture.from_seed(v=32, n_classes=4, scale=0.0, seed=7)
    torch.testing.assert_close(uniform.log_probs, torch.full((4, 32), -math.log(32),
                                                             dtype=torch.float64))


@pytest.mark.parametrize("process", ["epsilon", "masking", "gaussian"])
def test_clean_evidence_returns_x0(process):
    mixture = FlatMixture.from_seed(v=32, n_classes=8, scale=0.5, seed=0)
    _, tokens = mixture.sample(6, 64, seed=1)
    e = forward_evidence(process, tokens, 32, 0.0, seed=2)
    assert torch.equal(mixture.posterior_sample(e, seed=3)[1], tokens)
    _, runs = mixture.forward_backward(tokens, process, 0.0, n_traj=3, seed=4)
    assert torch.equal(runs, tokens[:, None].expand(-1, 3, -1))


@pytest.mark.parametrize("mixture", [tiny_mixture(), FlatMixture.from_seed(8, 4, 1.0, seed=1)])
def test_class_kept_epsilon_is_the_posterior_of_the_true_class(mixture):
    classes, tokens = mixture.sample(20, 6, seed=2)
    for eps in (0.0, 0.3, 0.8, 1.0):
        post = torch.exp(mixture.class_log_posterior(epsilon_evidence(tokens, eps, mixture.v)))
        torch.testing.assert_close(class_kept_epsilon(mixture, classes, tokens, eps),
                                   post[torch.arange(20), classes], rtol=0, atol=1e-12)


def test_forward_backward_epsilon_keeps_the_class_at_the_posterior_rate():
    mixture = FlatMixture.from_seed(v=8, n_classes=4, scale=0.8, seed=3)
    classes, tokens = mixture.sample(8, 16, seed=4)
    n_traj = 2000
    kept = class_kept_epsilon(mixture, classes, tokens, 0.7).numpy()
    class_hat, tokens_hat = mixture.forward_backward(tokens, "epsilon", 0.7, n_traj, seed=5)
    assert class_hat.shape == (8, n_traj) and tokens_hat.shape == (8, n_traj, 16)
    freq = (class_hat == classes[:, None]).double().mean(1).numpy()
    se = np.sqrt(kept * (1 - kept) / n_traj) + 1e-12
    assert np.max(np.abs(freq - kept) / se) < Z_MAX
    assert 0.05 < kept.mean() < 0.95  # the check is not trivial: the class does flip
    # the runs differ from one another, and the seed fixes them
    assert not torch.equal(tokens_hat[:, 0], tokens_hat[:, 1])
    again = mixture.forward_backward(tokens, "epsilon", 0.7, n_traj, seed=5)
    assert torch.equal(again[1], tokens_hat)


def test_forward_backward_time_processes_draw_fresh_noise_per_run():
    mixture = FlatMixture.from_seed(v=8, n_classes=4, scale=0.8, seed=3)
    _, tokens = mixture.sample(2, 32, seed=4)
    _, runs = mixture.forward_backward(tokens, "masking", 0.5, 50, seed=1)
    changed = runs != tokens[:, None]
    assert not torch.equal(changed[:, 0], changed[:, 1])  # a fresh mask per run
    # masks independent per token (the default): the number masked varies, beyond d/2 at times;
    # with a fixed count only the 16 masked tokens can change
    assert changed.sum(-1).max() > 16
    _, fixed = mixture.forward_backward(tokens, "masking", 0.5, 50, seed=1,
                                        independent_masks=False)
    assert ((fixed != tokens[:, None]).sum(-1) <= 16).all()


@pytest.mark.parametrize("eps", [0.0, 0.3, 0.7, 1.0])
def test_exact_change_pair_sums_equal_brute_force(eps):
    mixture = tiny_mixture()
    tokens = torch.tensor([[0, 1, 0], [2, 2, 1], [1, 0, 2], [1, 1, 1]])
    pairs = mixture.change_pair_sums_epsilon(tokens, eps)
    assert pairs.shape == (4, 3)
    e = epsilon_evidence(tokens, eps, 3)
    for row in range(4):
        outcomes, p = brute_force_joint(mixture, e[row])
        spins = np.array([[1 if o[1 + i] != int(tokens[row, i]) else -1 for i in range(3)]
                          for o in outcomes], dtype=np.float64)
        mean = p @ spins
        cov = (spins * p[:, None]).T @ spins - np.outer(mean, mean)
        dist = np.abs(np.subtract.outer(np.arange(3), np.arange(3)))
        expected = [cov[dist == r].sum() for r in range(3)]
        np.testing.assert_allclose(pairs[row], expected, atol=1e-12)


def test_sampled_change_pair_sums_match_the_exact_ones():
    mixture = FlatMixture.from_seed(v=8, n_classes=4, scale=1.5, seed=3)
    _, tokens = mixture.sample(4, 6, seed=4)
    eps, n_batches, per_batch = 0.8, 20, 200
    exact = mixture.change_pair_sums_epsilon(tokens, eps)
    _, runs = mixture.forward_backward(tokens, "epsilon", eps, n_batches * per_batch, seed=5)
    spins = change_spins(tokens, runs).reshape(4, n_batches, per_batch, 6)
    batches = np.array([[lattice_pair_sums(spins[i, b], periodic=False)
                         for b in range(n_batches)] for i in range(4)])  # (4, 20, 6)
    mean, se = batches.mean(1), batches.std(1, ddof=1) / math.sqrt(n_batches)
    # the estimator's population moments shrink every C_ij by 1 - 1/n_traj
    assert np.max(np.abs(mean - (1 - 1 / per_batch) * exact) / se) < Z_MAX
    # and the check can fail: the class makes some tokens co-change far beyond sampling error
    assert np.max(np.abs(exact[:, 1:]) / se[:, 1:]) > 2 * Z_MAX


def test_class_half_point_and_scale_for_half_point():
    v, n_classes, d, n = 8, 4, 16, 256
    points = [class_half_point(FlatMixture.from_seed(v, n_classes, s, seed=0), d, n, seed=1)
              for s in (0.6, 0.9, 1.2)]
    assert np.all(np.diff(points) > 0), points  # more class information: a later threshold
    mixture = FlatMixture.from_seed(v, n_classes, 0.6, seed=0)
    classes, tokens = mixture.sample(n, d, seed=1)
    half = points[0]
    assert float(class_kept_epsilon(mixture, classes, tokens, half - 0.01).mean()) > 0.5
    assert float(class_kept_epsilon(mixture, classes, tokens, half + 0.01).mean()) < 0.5
    scale = scale_for_half_point(v, n_classes, d, 0.7, seed=0, n=n, tol=1e-4)
    found = class_half_point(FlatMixture.from_seed(v, n_classes, scale, seed=0), d, n, seed=0)
    assert found == pytest.approx(0.7, abs=2e-3)
    # too little information even when clean: no half-point
    assert math.isnan(class_half_point(FlatMixture.from_seed(v, n_classes, 0.0, seed=0), d, n,
                                       seed=1))


def test_flat_mixture_refuses_bad_arguments():
    with pytest.raises(ValueError, match="sum to 1"):
        FlatMixture(torch.zeros((2, 3), dtype=torch.float64))
    with pytest.raises(ValueError, match="n_classes >= 2"):
        FlatMixture(torch.full((1, 3), -math.log(3)))
    with pytest.raises(ValueError, match="scale"):
        FlatMixture.from_seed(8, 4, -1.0, seed=0)
    mixture = tiny_mixture()
    with pytest.raises(ValueError, match=r"\(n, d, v=3\)"):
        mixture.class_log_posterior(torch.zeros((2, 3, 4)))
    # clean evidence that token 0 is symbol 0, which no class emits
    impossible = torch.zeros((1, 3, 3), dtype=torch.float64)
    impossible[0, 0, 1:] = -math.inf
    mixture_no_0 = FlatMixture(torch.log(torch.tensor([[0.0, 0.4, 0.6], [0.0, 0.5, 0.5]],
                                                      dtype=torch.float64)))
    with pytest.raises(ValueError, match="impossible under every class"):
        mixture_no_0.posterior_sample(impossible, seed=0)
    with pytest.raises(ValueError, match="process"):
        mixture.forward_backward(torch.zeros((1, 3), dtype=torch.long), "blur", 0.5, 2, 0)


# ----------------------------------------------------------------------------- random code
def _brute_class_posterior(code, log_evidence):
    """p(class | obs) by enumerating every string x of v**d: prior 1/n_codes on each class's
    codeword, 0 elsewhere; likelihood prod_i exp(e_i(x_i))."""
    e = log_evidence.numpy()[0]
    post = np.zeros(code.n_codes)
    words = [tuple(w) for w in code.codewords.tolist()]
    for x in itertools.product(range(code.v), repeat=code.d):
        like = math.exp(sum(e[i, x[i]] for i in range(code.d)))
        for c, w in enumerate(words):
            if w == x:
                post[c] += like / code.n_codes
    return post / post.sum()


def test_random_code_posterior_equals_brute_force_enumeration():
    code = RandomCode.from_seed(3, 6, 4, seed=2)
    x0 = code.codewords[1:2]
    for eps in (0.2, 0.7, 0.95):
        ev = epsilon_evidence(x0, eps, 3)
        got = torch.exp(code.class_log_posterior(ev))[0].numpy()
        assert got == pytest.approx(_brute_class_posterior(code, ev), rel=1e-10, abs=1e-14)
    noisy = torch.tensor([[0, 2, 1, 1]])  # any observation, e.g. a resampled string
    ev = forward_evidence("uniform", noisy, 3, 0.3, seed=0)
    assert torch.exp(code.class_log_posterior(ev))[0].numpy() == pytest.approx(
        _brute_class_posterior(code, ev), rel=1e-10)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_random_code_flip_rate_averaged_over_every_noisy_string():
    """The uniform-token channel: P(drawn class != true) from runs with fresh noise, against the
    exact average over all v**d noisy strings y of P(y | x0) P(class != true | y)."""
    v, d, abar = 2, 5, 0.5
    code = RandomCode.from_seed(v, 4, d, seed=5)
    x0 = code.codewords[0:1]
    schedule = GaussianSchedule()
    t_over_T = next(t / schedule.T for t in range(schedule.T + 1)
                    if float(schedule.alphas_bar[t]) <= abar)
    abar_t = float(schedule.alphas_bar[schedule.step(t_over_T)])
    assert abar_t == pytest.approx(abar, abs=0.01)
    n = 4000
    drawn = code.forward_backward(x0, "uniform", t_over_T, n, seed=3)[0]
    changed = (code.codewords[drawn] != x0[0]).any(1).double().mean().item()
    exact_t = 0.0
    for y in itertools.product(range(v), repeat=d):
        p_y = math.prod(abar_t * (y[i] == int(x0[0, i])) + (1 - abar_t) / v for i in range(d))
        ev = torch.log(abar_t * torch.nn.functional.one_hot(torch.tensor([y]), v).double()
                       + (1 - abar_t) / v)
        post = torch.exp(code.class_log_posterior(ev))[0]
        exact_t += p_y * float(post[~(code.codewords == x0[0]).all(1)].sum())
    se = math.sqrt(exact_t * (1 - exact_t) / n)
    assert abs(changed - exact_t) < Z_MAX * se


def test_code_rate_is_the_annealed_average_over_all_codewords():
    v, d, eps = 3, 4, 0.6
    beta = math.log((1 - eps + eps / v) / (eps / v))
    mean = np.mean([math.exp(beta * sum(a == 0 for a in w))
                    for w in itertools.product(range(v), repeat=d)])
    assert math.exp(beta * d - d * code_rate(v, eps)) == pytest.approx(mean, rel=1e-12)
    assert code_rate(v, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert code_size(2, 32, 0.7312) == 1 + round(math.exp(32 * code_rate(2, 0.7312)))
    with pytest.raises(ValueError, match="eps"):
        code_rate(2, 0.0)


def test_random_code_epsilon_draws_follow_the_posterior_and_change_tokens_in_one_block():
    code = RandomCode.from_seed(2, 12, 8, seed=1)
    x0 = code.codewords[3:4]
    eps = 0.8
    post = torch.exp(code.class_log_posterior(epsilon_evidence(x0, eps, 2)))[0].numpy()
    n = 3000
    drawn = code.forward_backward(x0, "epsilon", eps, n, seed=4)[0].numpy()
    freq = np.bincount(drawn, minlength=code.n_codes) / n
    se = np.sqrt(post * (1 - post) / n) + 1e-12
    assert np.all(np.abs(freq - post) < Z_MAX * se + 1e-9)
    corr, chi = random_code_correlations(code, [eps], n_x0=6, n_traj=64, seed=0, n_boot=20)
    tokens = chi[chi["level"] == 3].iloc[0]
    assert tokens["chi"] > 1.5 and set(corr["family"]) == {"random_code"}
    assert 0 < tokens["class_kept"] < 1
    with pytest.raises(ValueError, match="power of s"):
        random_code_correlations(RandomCode.from_seed(2, 4, 6, seed=0), [eps], n_x0=2,
                                 n_traj=4, seed=0)
    with pytest.raises(ValueError, match="codewords"):
        RandomCode(torch.tensor([[0, 2]]), 2)


def test_permuting_the_leaves_keeps_chi_and_flattens_c_by_tree_level():
    from hierphase import rhm

    rules = rhm.sample_rules(8, 3, 2, 5, seed=0)
    trees = rhm.sample_trees(rules, 24, seed=1)
    corr, chi = permuted_leaf_correlations(rules, trees, [0.55], n_traj=64, seed=2,
                                           permutation_seed=3, n_boot=20)
    leaf = chi[chi["level"] == 5].set_index("model")
    assert leaf.loc["bp", "chi"] == pytest.approx(leaf.loc["bp_permuted", "chi"], rel=1e-9)
    assert leaf.loc["bp", "class_kept"] == leaf.loc["bp_permuted", "class_kept"]
    c = corr[corr["level"] == 5].pivot(index="distance", columns="model", values="C")
    # the tree's C falls from neighbours to the top; the permuted one barely depends on k
    assert c.loc[1, "bp"] / c.loc[5, "bp"] > 3 * (c.loc[1, "bp_permuted"] / c.loc[5, "bp_permuted"])


def test_hierarchy_controls_figure_draws_every_group():
    from hierphase import rhm
    from hierphase.controls import control_summary
    from hierphase.plots.hierarchy import hierarchy_controls

    code = RandomCode.from_seed(2, 6, 8, seed=0)
    c1, s1 = random_code_correlations(code, [0.5, 0.7, 0.9], n_x0=4, n_traj=16, seed=0, n_boot=5)
    rules = rhm.sample_rules(8, 3, 2, 3, seed=0)
    c2, s2 = permuted_leaf_correlations(rules, rhm.sample_trees(rules, 4, seed=0), [0.4, 0.6, 0.8],
                                        n_traj=16, seed=0, permutation_seed=0, n_boot=5)
    import pandas as pd
    cor, sus = pd.concat([c1, c2]), pd.concat([s1, s2])
    summary = control_summary(cor, sus)
    assert set(zip(summary["family"], summary["model"])) == {
        ("random_code", "exact"), ("rhm_permuted", "bp"), ("rhm_permuted", "bp_permuted")}
    fig = hierarchy_controls(summary, cor)
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) >= 3
    with pytest.raises(ValueError, match="columns"):
        hierarchy_controls(summary.drop(columns="d"), cor)


def test_code_size_refuses_codes_too_large_to_enumerate():
    from hierphase.theory import code_size

    assert code_size(2, 8, 0.73) == 8
    with pytest.raises(ValueError, match="too many to enumerate"):
        code_size(32, 64, 0.73)


def test_the_summary_separates_processes_and_reads_a_chain_as_a_chain():
    """One row per process; the flat mixture's tokens sit on a chain (d = tokens, no tree fit,
    C of the far half over C(1)), the random code's on a tree (d = s**L)."""
    from hierphase.controls import CONTROL_SUMMARY_COLUMNS, control_summary
    from hierphase.stages.rhm import flat_mixture_shard

    code = RandomCode.from_seed(2, 6, 8, seed=0)
    c1, s1 = random_code_correlations(code, [0.5, 0.7, 0.9], n_x0=4, n_traj=16, seed=0, n_boot=5)
    frames = [flat_mixture_shard(4, 4, 16, 1.0, p, [0.3, 0.6, 0.9], 1, 4, 16, n_boot=5)
              for p in ("epsilon", "masking")]
    import pandas as pd
    cor = pd.concat([c1] + [f[0] for f in frames])
    sus = pd.concat([s1] + [f[1] for f in frames])
    summary = control_summary(cor, sus)
    assert list(summary.columns) == CONTROL_SUMMARY_COLUMNS
    mixture = summary[summary["family"] == "flat_mixture"].set_index("process")
    assert sorted(mixture.index) == ["epsilon", "masking"]
    assert (~mixture["tree"]).all() and (mixture["d"] == 16).all()
    assert mixture["a_level"].isna().all()
    eps = cor[(cor["family"] == "flat_mixture") & (cor["process"] == "epsilon")
              & (cor["level"] == 1) & np.isclose(cor["noise"], mixture.loc["epsilon", "peak_noise"])]
    far = eps[eps["distance"] >= 8]["C"].mean() / eps[eps["distance"] == 1]["C"].iloc[0]
    assert mixture.loc["epsilon", "C_top_over_C_1"] == pytest.approx(far)
    row = summary[summary["family"] == "random_code"].iloc[0]
    assert row["tree"] and row["d"] == 8 and row["L"] == 3 and row["process"] == "epsilon"


def test_the_level_exponent_figure_draws_both_axes_or_says_why_not():
    import pandas as pd

    from hierphase.plots.hierarchy import level_exponents
    from hierphase.scaling import LEVEL_EXPONENT_COLUMNS

    rows = [dict(family="rhm", experiment="main", model="bp", process="epsilon", L=L, level=L,
                 s=2, n_rule_seeds=1, peak_noise=0.72, k_min=1, k_max=k, k_significant=L,
                 n_points=k, a=0.9, a_err=0.01, chi2_dof=1.0, a_spatial=0.7,
                 a_spatial_err=0.02, chi2_dof_spatial=50.0, a_mean_field=0.92,
                 a_mean_field_spatial=0.72, a_mean_field_infinite=0.943)
            for L in (6, 8) for k in range(3, L)]
    table = pd.DataFrame(rows, columns=LEVEL_EXPONENT_COLUMNS)
    fig = level_exponents(table, experiment="main")
    assert len(fig.axes) == 2 and all(len(ax.lines) >= 3 for ax in fig.axes)
    empty = level_exponents(table.iloc[:0], experiment="main")
    assert "no window" in empty.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match="columns"):
        level_exponents(table.drop(columns="a_spatial"), experiment="main")
