"""hierphase.noise: evidence values against closed forms, seeded draws, schedule, dispatch."""

import math

import pytest
import torch

from hierphase import noise

LEAVES = torch.tensor([[0, 1, 2, 3], [3, 3, 0, 1]])


def test_epsilon_evidence_values():
    ev = noise.epsilon_evidence(LEAVES, 0.3, 4)
    assert ev.shape == (2, 4, 4) and ev.dtype == torch.float64
    p = ev.exp()
    on = torch.gather(p, -1, LEAVES.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(on, torch.full_like(on, 1 - 0.3 + 0.3 / 4))
    assert torch.allclose(p.sum(-1), torch.ones(2, 4, dtype=torch.float64))
    assert torch.isneginf(noise.epsilon_evidence(LEAVES, 0.0, 4)).sum() == 2 * 4 * 3
    assert torch.allclose(noise.epsilon_evidence(LEAVES, 1.0, 4), torch.full((2, 4, 4), math.log(0.25), dtype=torch.float64))
    with pytest.raises(ValueError, match="eps"):
        noise.epsilon_evidence(LEAVES, 1.5, 4)
    with pytest.raises(ValueError, match="v="):
        noise.epsilon_evidence(LEAVES, 0.5, 3)


def test_schedule_linear_and_cosine():
    s = noise.GaussianSchedule()
    assert s.betas.shape == (1000,) and s.alphas_bar.shape == (1001,)
    assert s.alphas_bar[0] == 1.0
    assert math.isclose(float(s.betas[0]), 1e-4) and math.isclose(float(s.betas[-1]), 0.02)
    assert (s.alphas_bar.diff() < 0).all()
    assert math.isclose(float(s.alphas_bar[1]), 1 - 1e-4)
    assert 0 < float(s.alphas_bar[-1]) < 1e-4  # DDPM linear: abar_T ~ 4e-5
    c = noise.GaussianSchedule(T=200, kind="cosine")
    assert c.alphas_bar.shape == (201,) and c.alphas_bar[0] == 1 and (c.alphas_bar.diff() <= 0).all()
    assert float(c.alphas_bar[100]) == pytest.approx(math.cos((0.5 + 0.008) / 1.008 * math.pi / 2) ** 2
                                                    / math.cos(0.008 / 1.008 * math.pi / 2) ** 2)
    assert s.step(0.25) == 250 and c.step(1.0) == 200
    for bad, name in [(dict(T=0), "T"), (dict(kind="sqrt"), "kind"), (dict(beta_start=0.1, beta_end=0.01), "beta")]:
        with pytest.raises(ValueError, match=name):
            noise.GaussianSchedule(**bad)
    with pytest.raises(ValueError, match="t must"):
        s.abar(1001)


@pytest.mark.parametrize("t", [0, 1, 100, 500, 999, 1000])
def test_gaussian_evidence_is_exact_likelihood(t):
    sched = noise.GaussianSchedule()
    leaves = torch.randint(5, (3, 8), generator=torch.Generator().manual_seed(0))
    x_t = noise.gaussian_forward(leaves, 5, sched, t, seed=1)
    assert x_t.shape == (3, 5, 8)
    ev = noise.gaussian_evidence(x_t, sched, t)
    abar = float(sched.alphas_bar[t])
    if t == 0:
        assert torch.equal(ev.argmax(-1), leaves) and torch.isneginf(ev).sum() == 3 * 8 * 4
        return
    # independent: full Gaussian log-density of x_t (v-dim) given each candidate one-hot
    x = x_t.transpose(1, 2)  # (n, d, v)
    mean = math.sqrt(abar) * torch.eye(5, dtype=torch.float64)  # (a, v)
    logp = -((x.unsqueeze(2) - mean) ** 2).sum(-1) / (2 * (1 - abar))  # (n, d, a)
    ref = logp - torch.logsumexp(logp, -1, keepdim=True)
    assert torch.allclose(ev, ref, atol=1e-9, rtol=0)


def test_gaussian_forward_statistics_and_seed():
    sched = noise.GaussianSchedule()
    leaves = torch.zeros(400, 50, dtype=torch.long)
    x = noise.gaussian_forward(leaves, 4, sched, 300, seed=0)
    abar = float(sched.alphas_bar[300])
    assert float(x[:, 0].mean()) == pytest.approx(math.sqrt(abar), abs=0.01)
    assert float(x[:, 1:].std()) == pytest.approx(math.sqrt(1 - abar), rel=0.01)
    assert torch.equal(x, noise.gaussian_forward(leaves, 4, sched, 300, seed=0))
    assert not torch.equal(x, noise.gaussian_forward(leaves, 4, sched, 300, seed=1))


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 1.0])
def test_masking(fraction):
    leaves = torch.randint(4, (50, 16), generator=torch.Generator().manual_seed(0))
    mask = noise.masking_forward(leaves, fraction, seed=2)
    assert mask.dtype == torch.bool and mask.shape == (50, 16)
    assert (mask.sum(1) == round(fraction * 16)).all()
    assert torch.equal(mask, noise.masking_forward(leaves, fraction, seed=2))
    ev = noise.masking_evidence(leaves, mask, 4)
    assert (ev[mask] == 0).all()
    known = ev[~mask]
    assert torch.equal(known.argmax(-1), leaves[~mask]) and (torch.isneginf(known).sum(-1) == 3).all()


def test_masking_positions_uniform():
    leaves = torch.zeros(4000, 8, dtype=torch.long)
    mask = noise.masking_forward(leaves, 0.25, seed=0)
    freq = mask.double().mean(0)
    assert torch.allclose(freq, torch.full((8,), 0.25, dtype=torch.float64), atol=4 * math.sqrt(0.25 * 0.75 / 4000))


def test_independent_masks_are_bernoulli_and_uncorrelated():
    """independent=True: each leaf masked with probability f on its own (mean f, pairwise
    covariance 0), while the exact count makes the indicators' covariances sum to zero."""
    n, d, f = 20000, 8, 0.3
    leaves = torch.zeros(n, d, dtype=torch.long)
    mask = noise.masking_forward(leaves, f, seed=1, independent=True).double()
    se = math.sqrt(f * (1 - f) / n)
    assert torch.allclose(mask.mean(0), torch.full((d,), f, dtype=torch.float64), atol=5 * se)
    assert mask.sum(1).var() > 0.5 * d * f * (1 - f)  # counts vary (binomial variance d f (1-f))
    cov = torch.cov(mask.T)
    off = cov[~torch.eye(d, dtype=torch.bool)]
    assert off.abs().max() < 5 * f * (1 - f) / math.sqrt(n)
    counted = noise.masking_forward(leaves, f, seed=1).double()
    assert float(torch.cov(counted.T).sum()) == pytest.approx(0.0, abs=1e-9)
    # forward_evidence passes the option on: symbol 0 is possible exactly at the masked leaves
    # (no leaf is 0 here)
    ones = torch.ones(50, d, dtype=torch.long)
    ev = noise.forward_evidence("masking", ones, 4, 0.3, seed=3, independent_masks=True)
    hidden = noise.masking_forward(ones, 0.3, 3, independent=True)
    assert torch.equal(ev[:, :, 0] == 0.0, hidden) and hidden.sum(1).unique().numel() > 1


def test_uniform_noise():
    leaves = torch.zeros(20000, 4, dtype=torch.long)
    noisy = noise.uniform_forward(leaves, 5, 0.6, seed=0)
    changed = (noisy != leaves).double().mean()
    expected = 0.4 * (1 - 1 / 5)
    assert abs(float(changed) - expected) < 4 * math.sqrt(expected * (1 - expected) / 80000)
    ev = noise.uniform_evidence(noisy[:2], 0.6, 5).exp()
    on = torch.gather(ev, -1, noisy[:2].unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(on, torch.full_like(on, 0.6 + 0.4 / 5))
    assert torch.allclose(ev.sum(-1), torch.ones(2, 4, dtype=torch.float64))
    assert torch.equal(noisy, noise.uniform_forward(leaves, 5, 0.6, seed=0))


def test_forward_evidence_dispatch():
    sched = noise.GaussianSchedule(T=100)
    leaves = torch.randint(6, (4, 8), generator=torch.Generator().manual_seed(1))
    assert torch.equal(noise.forward_evidence("epsilon", leaves, 6, 0.4, seed=0),
                       noise.epsilon_evidence(leaves, 0.4, 6))
    x = noise.gaussian_forward(leaves, 6, sched, 37, seed=3)
    assert torch.equal(noise.forward_evidence("gaussian", leaves, 6, 0.37, seed=3, schedule=sched),
                       noise.gaussian_evidence(x, sched, 37))
    mask = noise.masking_forward(leaves, 0.37, seed=3)
    assert torch.equal(noise.forward_evidence("masking", leaves, 6, 0.37, seed=3, schedule=sched),
                       noise.masking_evidence(leaves, mask, 6))
    abar = float(sched.alphas_bar[37])
    noisy = noise.uniform_forward(leaves, 6, abar, seed=3)
    assert torch.equal(noise.forward_evidence("uniform", leaves, 6, 0.37, seed=3, schedule=sched),
                       noise.uniform_evidence(noisy, abar, 6))
    with pytest.raises(ValueError, match="process"):
        noise.forward_evidence("blur", leaves, 6, 0.3, seed=0)
    with pytest.raises(ValueError, match="t/T"):
        noise.forward_evidence("masking", leaves, 6, 1.3, seed=0)
