"""Masked diffusion language model: objective, sampler and forward-backward against exact
enumeration of a tiny known distribution; deterministic, resumable training."""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from hierphase.mdlm.diffusion import (ModelDenoiser, clean_probs, diffusion_loss, expected_loss,
                                      forward_backward, sample)
from hierphase.mdlm.model import DiffusionTransformer, TransformerConfig
from hierphase.mdlm.train import TrainConfig, load_model, save_model, train

V, N = 3, 3  # a tiny language: 3 tokens, sequences of 3; the mask is token V


class Oracle(torch.nn.Module):
    """The exact posterior of a distribution ``p`` over all ``V**N`` sequences, as a network:
    logits = log of the posterior marginal of each position given the visible tokens."""

    def __init__(self, probs: torch.Tensor):
        super().__init__()
        self.table = torch.tensor(list(itertools.product(range(V), repeat=N)))
        self.probs = probs.double()

    def forward(self, z, sigma=None):
        visible = z != V
        compat = ((self.table[None] == z[:, None]) | ~visible[:, None]).all(-1)  # (b, S)
        w = compat * self.probs[None]
        onehot = torch.nn.functional.one_hot(self.table, V + 1).double()  # (S, N, V+1)
        marg = torch.einsum("bs,sna->bna", w, onehot) / w.sum(1)[:, None, None]
        return torch.log(marg).float()

    def joint_given(self, z):
        """Posterior over full sequences given one masked z: (S,) probabilities."""
        compat = ((self.table == z) | (z == V)).all(-1)
        w = compat * self.probs
        return w / w.sum()


@pytest.fixture(scope="module")
def oracle():
    g = torch.Generator().manual_seed(3)
    raw = torch.rand(V**N, generator=g) ** 3 + 0.01
    return Oracle(raw / raw.sum())


def _tiny_net(seed=0, vocab=V + 1, **kw):
    torch.manual_seed(seed)
    net = DiffusionTransformer(TransformerConfig(vocab_size=vocab, hidden=16, n_blocks=1, n_heads=2,
                                                 cond_dim=8, **kw))
    for p in net.parameters():  # leave the zero initialisation: outputs that depend on the input
        torch.nn.init.normal_(p, std=0.3)
    return net


def _log_prob_fn(net):
    def fn(x, mask):
        z = x.masked_fill(mask, V)[None]
        with torch.no_grad():
            probs = clean_probs(net, z, V)[0]
        return torch.log(probs.gather(-1, x[:, None]).squeeze(-1))
    return fn


# ----------------------------------------------------------------------------- objective
def test_expected_loss_of_the_exact_posterior_is_the_negative_log_likelihood(oracle):
    for code, x in enumerate(oracle.table):
        got = expected_loss(_log_prob_fn(oracle), x)
        assert got == pytest.approx(-math.log(float(oracle.probs[code])) / N, rel=1e-6)  # float32 logits


@pytest.mark.parametrize("antithetic", [False, True])
def test_monte_carlo_objective_matches_its_closed_form_expectation(antithetic):
    net = _tiny_net(1).eval()
    x = torch.tensor([2, 0, 1])
    eps = 0.05
    exact = expected_loss(_log_prob_fn(net), x, eps=eps)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        draws = np.array([float(diffusion_loss(net, x.repeat(256, 1), V, gen, eps=eps, antithetic=antithetic))
                          for _ in range(80)])
    se = draws.std(ddof=1) / math.sqrt(len(draws))
    assert abs(draws.mean() - exact) < 5 * se, (draws.mean(), exact, se)


def test_weights_make_a_constant_loss_per_masked_token_its_own_expectation():
    # a loss of 1 per masked token: E_t[(1/t) * E(#masked) / n] = E_t[1] = 1 for every eps
    for eps in (0.0, 0.2):
        got = expected_loss(lambda x, mask: torch.full((x.shape[0],), -1.0), torch.zeros(5, dtype=torch.long), eps)
        assert got == pytest.approx(1.0, rel=1e-12)


# ----------------------------------------------------------------------------- sampler
def _frequencies(samples: torch.Tensor) -> np.ndarray:
    codes = (samples * torch.tensor([V**2, V, 1])).sum(-1)
    return np.bincount(codes.numpy(), minlength=V**N) / len(codes)


def _within(freq, probs, count, k=5.0):
    se = np.sqrt(probs * (1 - probs) / count)
    return np.all(np.abs(freq - probs) <= k * se + 1e-12), np.abs(freq - probs) / np.maximum(se, 1e-12)


def test_one_at_a_time_sampler_on_the_oracle_reproduces_the_distribution(oracle):
    count = 20000
    z = torch.full((count, N), V)
    out = sample(lambda z, t: clean_probs(oracle, z, V, t), z, V, torch.Generator().manual_seed(1))
    ok, dev = _within(_frequencies(out), oracle.probs.numpy(), count)
    assert ok, dev.max()


def test_sampler_from_a_partial_mask_gives_the_exact_conditional(oracle):
    count = 20000
    z = torch.tensor([V, 1, V]).repeat(count, 1)
    out = sample(lambda z, t: clean_probs(oracle, z, V, t), z, V, torch.Generator().manual_seed(2), level=0.5)
    assert (out[:, 1] == 1).all()
    ok, dev = _within(_frequencies(out), oracle.joint_given(torch.tensor([V, 1, V])).numpy(), count)
    assert ok, dev.max()


def test_ancestral_grid_sampler_is_exact_for_independent_tokens():
    # a product distribution: the conditionals are the marginals, so revealing several tokens in
    # one step is exact whatever the number of steps
    marg = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    probs = torch.einsum("a,b,c->abc", *marg).reshape(-1)
    fn = lambda z, t: torch.cat([marg, torch.zeros(N, 1)], 1).expand(z.shape[0], N, V + 1)  # noqa: E731
    count = 20000
    out = sample(fn, torch.full((count, N), V), V, torch.Generator().manual_seed(3), steps=2)
    ok, dev = _within(_frequencies(out), probs.numpy(), count)
    assert ok, dev.max()


# ----------------------------------------------------------------------------- forward-backward
def _exact_change_probabilities(oracle, x, t):
    """P(token i changes) and P(tokens i and j both change) under forward-backward at level t with
    the exact posterior, by enumeration of the masks and the posterior."""
    single, pair = np.zeros(N), np.zeros((N, N))
    for code in range(2**N):
        mask = torch.tensor([(code >> i) & 1 for i in range(N)], dtype=torch.bool)
        weight = t ** int(mask.sum()) * (1 - t) ** (N - int(mask.sum()))
        post = oracle.joint_given(x.masked_fill(mask, V)).numpy()
        changed = (oracle.table != x).numpy()  # (S, N)
        single += weight * post @ changed
        pair += weight * np.einsum("s,si,sj->ij", post, changed, changed)
    return single, pair


def test_forward_backward_with_the_oracle_gives_exact_change_statistics(oracle):
    x = torch.tensor([[0, 2, 1]])
    t, n_traj = 0.6, 20000
    den = ModelDenoiser(oracle, V, device="cpu", batch_size=4096)
    out = forward_backward(den, x, t, n_traj, seed=5)
    assert out.shape == (1, n_traj, N)
    changed = (out[0] != x[0]).numpy().astype(float)
    single, pair = _exact_change_probabilities(oracle, x[0], t)
    got_single, got_pair = changed.mean(0), changed.T @ changed / n_traj
    for got, exact in ((got_single, single), (got_pair, pair)):
        se = np.sqrt(exact * (1 - exact) / n_traj)
        assert np.all(np.abs(got - exact) <= 5 * se + 1e-12), (got, exact)
    # and the connected correlation of the change spins, the quantity the estimator averages
    cov = 4 * (pair - np.outer(single, single))
    got_cov = np.cov(2 * changed.T - 1, bias=True)
    assert np.allclose(got_cov, cov, atol=0.03)


def test_forward_backward_is_deterministic_and_keeps_visible_tokens(oracle):
    x = torch.tensor([[0, 2, 1], [1, 1, 0]])
    den = ModelDenoiser(oracle, V, device="cpu")
    a = forward_backward(den, x, 0.3, 50, seed=9)
    assert torch.equal(a, forward_backward(den, x, 0.3, 50, seed=9))
    assert not torch.equal(a, forward_backward(den, x, 0.3, 50, seed=10))
    assert torch.equal(forward_backward(den, x, 0.0, 5, seed=1), x[:, None].expand(2, 5, N))


# ----------------------------------------------------------------------------- network
def test_network_is_bidirectional_and_ignores_the_level_without_time_conditioning():
    net = _tiny_net(2, vocab=7).eval()
    x = torch.tensor([[1, 2, 3, 4, 5, 0]])
    y = x.clone()
    y[0, 5] = 3
    with torch.no_grad():
        assert not torch.allclose(net(x)[0, 0], net(y)[0, 0])  # a later token changes the first output
        assert torch.equal(net(x, torch.tensor([0.1])), net(x, torch.tensor([2.0])))
        timed = _tiny_net(2, vocab=7, time_conditioning=True).eval()
        assert not torch.allclose(timed(x, torch.tensor([0.1])), timed(x, torch.tensor([2.0])))


def test_fresh_network_predicts_uniformly_and_config_is_checked():
    net = DiffusionTransformer(TransformerConfig(vocab_size=5, hidden=8, n_heads=2, cond_dim=4))
    probs = clean_probs(net, torch.tensor([[4, 1, 4]]), 4)
    assert torch.allclose(probs[..., :4], torch.full((1, 3, 4), 0.25)) and (probs[..., 4] == 0).all()
    with pytest.raises(ValueError, match="hidden"):
        TransformerConfig(vocab_size=5, hidden=6, n_heads=4)
    with pytest.raises(ValueError, match="vocab_size"):
        TransformerConfig(vocab_size=1)
    with pytest.raises(ValueError, match="level"):
        forward_backward(ModelDenoiser(net, 4), torch.zeros((1, 3), dtype=torch.long), 1.5, 2, 0)


# ----------------------------------------------------------------------------- training
def _data(n=40, length=6, vocab=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(vocab, (n, 1), generator=g)
    return (base + torch.arange(length)) % vocab  # shifted counting sequences: learnable


def _cfg(**kw):
    base = dict(steps=12, batch_size=8, warmup=4, log_every=4, checkpoint_every=5, lr=3e-3)
    base.update(kw)
    return TrainConfig(**base)


def _net(dropout=0.0):
    torch.manual_seed(0)
    return DiffusionTransformer(TransformerConfig(vocab_size=6, hidden=16, n_blocks=1, n_heads=2, cond_dim=8,
                                                  dropout=dropout))


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_kill_and_resume_gives_byte_identical_model_file(tmp_path, dropout):
    full = train(_net(dropout), _data(), 5, _cfg(), seed=3)
    save_model(tmp_path / "full.pt", full.net.state_dict(), full.net.cfg)
    stop = int(np.random.default_rng(dropout > 0).integers(1, 11))  # a "random" kill step
    ckpt = tmp_path / "run.ckpt"
    torch.manual_seed(123)  # the global generator's state must not matter
    part = train(_net(dropout), _data(), 5, _cfg(), seed=3, checkpoint=ckpt, stop_after=stop)
    assert part.steps_done == stop and not part.finished
    torch.manual_seed(456)
    resumed = train(_net(dropout), _data(), 5, _cfg(), seed=3, checkpoint=ckpt)
    assert resumed.finished
    save_model(tmp_path / "resumed.pt", resumed.net.state_dict(), resumed.net.cfg)
    assert (tmp_path / "full.pt").read_bytes() == (tmp_path / "resumed.pt").read_bytes()
    assert full.loss_table.equals(resumed.loss_table)


@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_training_lowers_the_loss_and_snapshots_survive_a_resume(tmp_path):
    cfg = _cfg(steps=100, log_every=25, lr=1e-2, batch_size=16, warmup=10)
    full = train(_net(), _data(), 5, cfg, seed=1, snapshots=[7, 30])
    # from log 5 = 1.61 nats per token (uniform) towards the data's log(5) / 6 = 0.27
    assert full.loss_table["loss"].iloc[-1] < 0.8 * full.loss_table["loss"].iloc[0] < 0.8 * 1.7
    ckpt = tmp_path / "c.ckpt"
    train(_net(), _data(), 5, cfg, seed=1, snapshots=[7, 30], checkpoint=ckpt, stop_after=12)
    resumed = train(_net(), _data(), 5, cfg, seed=1, snapshots=[7, 30], checkpoint=ckpt)
    for step in (7, 30):
        assert all(torch.equal(full.snapshots[step][k], resumed.snapshots[step][k]) for k in full.snapshots[step])
    save_model(tmp_path / "m.pt", full.net.state_dict(), full.net.cfg)
    again = load_model(tmp_path / "m.pt")
    x = _data()[:3]
    assert torch.equal(again(x), full.net(x))


def test_checkpoint_of_another_run_is_ignored_and_a_corrupt_one_discarded(tmp_path):
    ckpt = tmp_path / "c.ckpt"
    train(_net(), _data(), 5, _cfg(), seed=1, checkpoint=ckpt, stop_after=10)
    other = train(_net(), _data(), 5, _cfg(), seed=2, checkpoint=ckpt)  # another seed: starts over
    fresh = train(_net(), _data(), 5, _cfg(), seed=2)
    assert other.loss_table.equals(fresh.loss_table)
    ckpt.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="discarded"):
        again = train(_net(), _data(), 5, _cfg(), seed=2, checkpoint=ckpt)
    assert again.loss_table.equals(fresh.loss_table)


def test_training_refuses_bad_inputs():
    with pytest.raises(ValueError, match="mask_id"):
        train(_net(), _data(), 9, _cfg(), seed=0)
    with pytest.raises(ValueError, match="sequences"):
        train(_net(), _data() + 1, 5, _cfg(), seed=0)  # holds the mask id 5
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig(steps=3, warmup=4)
    with pytest.raises(ValueError, match="snapshots"):
        train(_net(), _data(), 5, _cfg(), seed=0, snapshots=[99])


_SCRIPT = textwrap.dedent("""
    import sys, torch
    from hierphase.mdlm.model import DiffusionTransformer, TransformerConfig
    from hierphase.mdlm.train import TrainConfig, save_model, train
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    data = (torch.randint(5, (40, 1), generator=g) + torch.arange(6)) % 5
    torch.manual_seed(0)
    net = DiffusionTransformer(TransformerConfig(vocab_size=6, hidden=16, n_blocks=1, n_heads=2, cond_dim=8))
    cfg = TrainConfig(steps=int(sys.argv[3]), batch_size=8, warmup=4, log_every=4, checkpoint_every=1)
    res = train(net, data, 5, cfg, seed=3, checkpoint=sys.argv[1] or None)
    save_model(sys.argv[2], res.net.state_dict(), res.net.cfg)
""")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_gives_byte_identical_model_file(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    steps = 200
    subprocess.run([sys.executable, str(script), "", str(tmp_path / "ref.pt"), str(steps)], env=env, check=True)
    ckpt = tmp_path / "run.ckpt"
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt), str(tmp_path / "out.pt"), str(steps)], env=env)
    deadline = time.monotonic() + 120
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "out.pt").exists(), "the run finished before the kill; raise steps"
    subprocess.run([sys.executable, str(script), str(ckpt), str(tmp_path / "out.pt"), str(steps)], env=env, check=True)
    assert (tmp_path / "out.pt").read_bytes() == (tmp_path / "ref.pt").read_bytes()
