"""Diffusion processes on RHM leaves for trained denoisers: training losses and reverse samplers.

Three processes, each a frozen dataclass with the same pure-function interface, all with a
network that predicts the clean leaves (x0-prediction, cross-entropy loss):

* :class:`GaussianDiffusion` -- DDPM on the one-hot ``(v, d)``; the reverse step is the DDPM
  posterior ``q(x_s | x_t, x0)`` with ``x0`` replaced by the network's expected one-hot (a respaced
  ancestral sampler: ``sample_steps`` steps over the whole range 0..T);
* :class:`MaskingDiffusion` -- absorbing-state diffusion; the reverse process unmasks tokens in a
  random order, sampling each from the network's conditional given the tokens already known
  (``sample_steps`` >= d means one token at a time, exact for an exact network);
* :class:`UniformDiffusion` -- D3PM with uniform-token noise, ``abar_t`` from the same schedule as
  the Gaussian process; the reverse step is the D3PM posterior marginalised over the prediction.

The network reads each leaf's likelihood given its noisy state (Gaussian: ``softmax_a(x_t[a]
sqrt(abar) / (1 - abar))``; uniform: ``abar [token = a] + (1 - abar) / v``; masking: the one-hot
token, or the mask channel where the leaf is hidden). The exact denoiser, BP, is then one function
of this input at every t, so the network may go without the noise level
(``NetworkConfig.time_conditioning``).

For the forward-backward sweeps a process turns clean leaves into a noisy *state* with the core's
forward functions (:mod:`hierphase.noise`; ``noise(..., independent=True)`` noises every leaf on its
own, as change correlations need: masking then hides each leaf with probability t/T instead of a
fixed count), so the learned model sees exactly the noise exact BP sees;
``evidence(state, level)`` gives exact BP the per-leaf log-evidence of the same state, and
``sample(net, state, level, generator)`` runs the learned reverse process back to clean leaves.
``level`` is t/T in [0, 1], as everywhere in the pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from hierphase import noise as hnoise
from hierphase.learned.settings import UNIFORM_TIMES, TimeFocus

__all__ = [
    "GaussianDiffusion",
    "MaskingDiffusion",
    "UniformDiffusion",
    "make_process",
    "respaced_times",
]

def respaced_times(t_start: int, T: int, sample_steps: int) -> list[int]:
    """Descending integer times from ``t_start`` to 0 with about ``sample_steps * t_start / T`` jumps."""
    if t_start <= 0:
        return [0]
    k = max(1, math.ceil(sample_steps * t_start / T))
    times = torch.linspace(t_start, 0, k + 1).round().long().tolist()
    out = []
    for t in times:
        if not out or t < out[-1]:
            out.append(int(t))
    return out


def _categorical(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Sample the last axis of ``probs`` (any leading shape) with an explicit generator."""
    flat = probs.reshape(-1, probs.shape[-1]).float().clamp_min(0)
    idx = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
    return idx.view(probs.shape[:-1])


def _rand(shape, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _randn(shape, generator: torch.Generator, device) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def _randint(high: int, shape, generator: torch.Generator, device) -> torch.Tensor:
    return torch.randint(high, shape, generator=generator, device=generator.device).to(device)


def _predict_probs(net, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    """Network's predicted distribution of the clean leaves, ``(n, d, v)`` in float32."""
    return torch.softmax(net(x, time).float(), dim=1).transpose(1, 2)


@dataclass(frozen=True)
class _ScheduledDiffusion:
    """What the processes driven by a noise schedule share: v input channels and T steps."""

    v: int
    schedule: "hnoise.GaussianSchedule"
    sample_steps: int = 100

    @property
    def in_channels(self) -> int:
        return self.v

    @property
    def T(self) -> int:
        return int(self.schedule.T)

    def _t(self, level: float) -> int:
        """The integer step of noise ``level = t/T`` (:meth:`hierphase.noise.GaussianSchedule.step`)."""
        return self.schedule.step(level)


@dataclass(frozen=True)
class GaussianDiffusion(_ScheduledDiffusion):
    """DDPM on the one-hot leaves with an x0-predicting network (cross-entropy on the clean leaves)."""

    name: str = "gaussian"

    def _abar(self, t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.schedule.alphas_bar, dtype=torch.float64)[t.cpu()].float().to(t.device)

    def net_input(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Preconditioned input: the per-leaf likelihood ``softmax_a(x_t[a] sqrt(abar_t) / (1 - abar_t))``.

        It is a function of (x_t, t) that keeps everything x_t says about the clean leaf (the
        likelihood is exactly this up to a factor independent of a) but has the same scale at every
        t, which a network learns far faster from than from raw x_t (as EDM's input scaling does).
        """
        abar = self._abar(t)[:, None, None]
        return torch.softmax(x_t.float() * (abar.sqrt() / (1 - abar)), dim=1)

    def training_loss(self, net, leaves: torch.Tensor, generator: torch.Generator,
                      times: TimeFocus = UNIFORM_TIMES) -> torch.Tensor:
        n, d = leaves.shape
        t = times.steps(self.T, n, generator, leaves.device)
        abar = self._abar(t)[:, None, None]
        x0 = F.one_hot(leaves, self.v).transpose(1, 2).float()
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * _randn(x0.shape, generator, leaves.device)
        logits = net(self.net_input(x_t, t), t.float() / self.T)
        return F.cross_entropy(logits.float(), leaves)

    def noise(self, leaves: torch.Tensor, level: float, seed: int,
              independent: bool = False) -> torch.Tensor:
        """x_t of the leaves; the noise is independent leaf by leaf whatever ``independent``."""
        return hnoise.gaussian_forward(leaves, self.v, self.schedule, self._t(level), seed)

    def evidence(self, state: torch.Tensor, level: float) -> torch.Tensor:
        return hnoise.gaussian_evidence(state, self.schedule, self._t(level))

    def prior(self, n: int, d: int, generator: torch.Generator, device="cpu") -> torch.Tensor:
        """x_T of the forward process (abar_T ~ 0: standard normal)."""
        return _randn((n, self.v, d), generator, device)

    def leaf_probs(self, net, state: torch.Tensor, level: float) -> torch.Tensor:
        t = self._t(level)
        if t == 0:
            return F.one_hot(state.argmax(dim=1), self.v).float()
        tt = torch.full((state.shape[0],), t, device=state.device, dtype=torch.long)
        return _predict_probs(net, self.net_input(state, tt), tt.float() / self.T)

    @torch.no_grad()
    def sample(self, net, state: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
        """Ancestral DDPM from ``state`` = x_t at t = level*T down to clean leaves ``(n, d)``."""
        times = respaced_times(self._t(level), self.T, self.sample_steps)
        x = state.float()
        if len(times) == 1:
            return x.argmax(dim=1)
        abars = torch.as_tensor(self.schedule.alphas_bar, dtype=torch.float64)
        n = x.shape[0]
        for t, s in zip(times[:-1], times[1:]):
            tt = torch.full((n,), t, device=x.device, dtype=torch.long)
            probs = _predict_probs(net, self.net_input(x, tt), tt.float() / self.T)
            if s == 0:
                return _categorical(probs, generator)
            a_t, a_s = float(abars[t]), float(abars[s])
            alpha = a_t / a_s
            x0_hat = probs.transpose(1, 2)
            mean = (math.sqrt(a_s) * (1 - alpha) / (1 - a_t)) * x0_hat + (math.sqrt(alpha) * (1 - a_s) / (1 - a_t)) * x
            var = (1 - a_s) / (1 - a_t) * (1 - alpha)
            x = mean + math.sqrt(var) * _randn(x.shape, generator, x.device)
        raise AssertionError("respaced_times must end at 0")


@dataclass(frozen=True)
class MaskingDiffusion:
    """Absorbing-state diffusion: token ``v`` is the mask; the network sees ``v + 1`` channels.

    The clean-data posterior given the visible tokens does not depend on t, so the network is
    conditioned on the observed masked fraction instead (the same quantity in training and sampling).
    """

    v: int
    sample_steps: int = 64
    name: str = "masking"

    @property
    def in_channels(self) -> int:
        return self.v + 1

    def _input(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.one_hot(tokens, self.v + 1).transpose(1, 2).float()
        return x, (tokens == self.v).float().mean(dim=1)

    def training_loss(self, net, leaves: torch.Tensor, generator: torch.Generator,
                      times: TimeFocus = UNIFORM_TIMES) -> torch.Tensor:
        n, d = leaves.shape
        frac = times.fractions(n, generator, leaves.device)
        mask = _rand((n, d), generator, leaves.device) < frac
        tokens = leaves.masked_fill(mask, self.v)
        x, time = self._input(tokens)
        ce = F.cross_entropy(net(x, time).float(), leaves, reduction="none")
        return (ce * mask).sum() / mask.sum().clamp_min(1)

    def noise(self, leaves: torch.Tensor, level: float, seed: int,
              independent: bool = False) -> torch.Tensor:
        """A fraction ``level`` of each datum's leaves masked, or with ``independent`` each leaf
        masked on its own with probability ``level`` (:func:`hierphase.noise.masking_forward`)."""
        mask = hnoise.masking_forward(leaves, float(level), seed, independent=independent)
        return leaves.masked_fill(mask.to(leaves.device), self.v)

    def evidence(self, state: torch.Tensor, level: float) -> torch.Tensor:
        mask = state == self.v
        return hnoise.masking_evidence(state.masked_fill(mask, 0), mask, self.v)

    def prior(self, n: int, d: int, generator: torch.Generator, device="cpu") -> torch.Tensor:
        return torch.full((n, d), self.v, dtype=torch.long, device=device)

    def leaf_probs(self, net, state: torch.Tensor, level: float) -> torch.Tensor:
        x, time = self._input(state)
        probs = _predict_probs(net, x, time)
        known = state != self.v
        exact = F.one_hot(state.clamp_max(self.v - 1), self.v).float()
        return torch.where(known[..., None], exact, probs)

    @torch.no_grad()
    def sample(self, net, state: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
        """Unmask in a uniformly random order, ``ceil(remaining / steps_left)`` tokens per step."""
        tokens = state.clone()
        n, d = tokens.shape
        masked = tokens == self.v
        steps = max(1, min(self.sample_steps, d))
        for step in range(steps):
            remaining = masked.sum(dim=1)
            if int(remaining.max()) == 0:
                break
            k = torch.ceil(remaining.float() / (steps - step)).long()
            x, time = self._input(tokens)
            probs = _predict_probs(net, x, time)
            draws = _categorical(probs, generator)
            scores = _rand((n, d), generator, tokens.device).masked_fill(~masked, -1.0)
            rank = scores.argsort(dim=1, descending=True).argsort(dim=1)
            chosen = masked & (rank < k[:, None])
            tokens = torch.where(chosen, draws, tokens)
            masked = masked & ~chosen
        return tokens


@dataclass(frozen=True)
class UniformDiffusion(_ScheduledDiffusion):
    """D3PM with uniform-token noise: a leaf is resampled uniformly with probability 1 - abar_t."""

    name: str = "uniform"

    def _abars(self) -> torch.Tensor:
        return torch.as_tensor(self.schedule.alphas_bar, dtype=torch.float64)

    def net_input(self, tokens: torch.Tensor, abar) -> torch.Tensor:
        """The per-leaf likelihood ``p(token | leaf = a) = abar [token = a] + (1 - abar) / v`` (it sums
        to 1 over a), ``(n, v, d)``; ``abar`` a number or one per datum ``(n, 1)``. As the Gaussian
        process's input it tells the network how far to trust each token without the noise level."""
        abar = torch.as_tensor(abar, dtype=torch.float32, device=tokens.device).reshape(-1, 1, 1)
        return abar * F.one_hot(tokens, self.v).transpose(1, 2).float() + (1 - abar) / self.v

    def training_loss(self, net, leaves: torch.Tensor, generator: torch.Generator,
                      times: TimeFocus = UNIFORM_TIMES) -> torch.Tensor:
        n, d = leaves.shape
        t = times.steps(self.T, n, generator, leaves.device)
        abar = self._abars()[t.cpu()].float().to(leaves.device)[:, None]
        keep = _rand((n, d), generator, leaves.device) < abar
        noisy = torch.where(keep, leaves, _randint(self.v, (n, d), generator, leaves.device))
        return F.cross_entropy(net(self.net_input(noisy, abar), t.float() / self.T).float(), leaves)

    def noise(self, leaves: torch.Tensor, level: float, seed: int,
              independent: bool = False) -> torch.Tensor:
        """Noisy leaves; each leaf is resampled on its own whatever ``independent``."""
        return hnoise.uniform_forward(leaves, self.v, float(self._abars()[self._t(level)]), seed)

    def evidence(self, state: torch.Tensor, level: float) -> torch.Tensor:
        return hnoise.uniform_evidence(state, float(self._abars()[self._t(level)]), self.v)

    def prior(self, n: int, d: int, generator: torch.Generator, device="cpu") -> torch.Tensor:
        return _randint(self.v, (n, d), generator, device)

    def leaf_probs(self, net, state: torch.Tensor, level: float) -> torch.Tensor:
        t = self._t(level)
        if t == 0:
            return F.one_hot(state, self.v).float()
        x = self.net_input(state, float(self._abars()[t]))
        return _predict_probs(net, x, torch.full((state.shape[0],), t / self.T, device=state.device))

    @torch.no_grad()
    def sample(self, net, state: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
        """Ancestral D3PM: p(x_s | x_t) = sum_x0 q(x_s | x_t, x0) p_net(x0 | x_t), position by position
        (exact as the steps shrink: then at most one leaf changes per step)."""
        times = respaced_times(self._t(level), self.T, self.sample_steps)
        tokens = state.clone()
        abars = self._abars()
        n = tokens.shape[0]
        v = self.v
        for t, s in zip(times[:-1], times[1:]):
            x = self.net_input(tokens, float(abars[t]))
            probs = _predict_probs(net, x, torch.full((n,), t / self.T, device=tokens.device))
            if s == 0:
                return _categorical(probs, generator)
            a_t, a_s = float(abars[t]), float(abars[s])
            alpha = a_t / a_s
            # p(x_s = j | x_t) = sum_x0 p_net(x0 | x_t) q(x_t | x_s = j) q(x_s = j | x0) / q(x_t | x0)
            like = alpha * F.one_hot(tokens, v).float() + (1 - alpha) / v  # q(x_t | x_s = j)
            z = a_s * like + (1 - a_s) / v * like.sum(-1, keepdim=True)  # q(x_t | x0), as a function of x0
            w = probs / z
            post = like * (a_s * w + (1 - a_s) / v * w.sum(-1, keepdim=True))
            tokens = _categorical(post / post.sum(-1, keepdim=True), generator)
        return tokens


def make_process(name: str, v: int, schedule=None, sample_steps: int | None = None):
    """The process ``name`` in :data:`hierphase.noise.TIME_PROCESSES` (config key ``learned.experiments.*.processes``)."""
    if name == "gaussian":
        return GaussianDiffusion(v, schedule, **({"sample_steps": sample_steps} if sample_steps else {}))
    if name == "masking":
        return MaskingDiffusion(v, **({"sample_steps": sample_steps} if sample_steps else {}))
    if name == "uniform":
        return UniformDiffusion(v, schedule, **({"sample_steps": sample_steps} if sample_steps else {}))
    raise ValueError(f"learned process {name!r} unknown (known: {', '.join(hnoise.TIME_PROCESSES)})")
