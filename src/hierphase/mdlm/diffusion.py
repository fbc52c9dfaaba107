"""Masked (absorbing-state) diffusion on token sequences: objective, sampler, forward-backward.

Forward process, linear schedule: at level ``t`` in [0, 1] each token is replaced by the mask
independently with probability ``t`` (``alpha_t = 1 - t`` survive). A network ``f`` reads the
partly masked sequence ``z_t`` and gives, at every masked position, a distribution over the clean
tokens (the mask's own logit is excluded; visible tokens are copied, as the published MDLM's
"substitution" parameterisation does).

Objective (the continuous-time negative ELBO of MDLM / MD4, per token)::

    L(x) = E_{t ~ U(eps, 1)} E_{z_t} [ (1 / t) * (1 / n) * sum_{i masked} -log f(z_t)_i[x_i] ],

``-alpha'_t / (1 - alpha_t) = 1 / t`` being the weight of the linear schedule. With ``eps = 0``
and the exact conditionals of a distribution ``p`` in place of ``f`` it equals ``-log p(x) / n``
(each ordering of the tokens contributes an exact chain rule): :func:`expected_loss` computes
the expectation in closed form over the masks of a short sequence, for tests.

Reverse process (:func:`sample`): from a sequence masked at level ``t``, either one token at a
time in a uniformly random order (``steps=None``; exact when ``f`` is the exact posterior), or
MDLM's ancestral steps on the grid ``t_k = t (1 - k / steps)``: a token masked at ``t_k`` is
revealed at ``t_{k+1}`` with probability ``(t_k - t_{k+1}) / t_k`` with a value drawn from ``f``
(all remaining ones at 0).

Forward-backward (:func:`forward_backward`): mask a clean sequence at level ``t`` (every token on
its own), denoise back; repeated ``n_traj`` times per sequence. Any *denoiser* can run it: a
callable ``denoiser(tokens, mask, level, seed) -> tokens`` that fills the masked positions of
``tokens`` (int64 ``(b, n)``, ``mask`` bool ``(b, n)``) with a sample, deterministic in ``seed``
(:class:`ModelDenoiser` for a network; the n-gram control and a grammar's exact posterior sampler
have the same signature).
"""

from __future__ import annotations

import math
from typing import Callable, Protocol

import numpy as np
import torch
from torch.nn import functional as F

from hierphase.seeding import derive_seed, torch_generator

__all__ = ["Denoiser", "ModelDenoiser", "mask_tokens", "clean_probs", "diffusion_loss",
           "expected_loss", "sample", "forward_backward"]


class Denoiser(Protocol):
    def __call__(self, tokens: torch.Tensor, mask: torch.Tensor, level: float, seed: int) -> torch.Tensor:
        """Fill ``tokens[mask]`` with a sample of the clean tokens given the rest."""


def _check_level(level, name: str = "level", low_open: bool = False) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not math.isfinite(level) \
            or not (0 < level <= 1 if low_open else 0 <= level <= 1):
        raise ValueError(f"{name} must be a number in {'(0' if low_open else '[0'}, 1], got {level!r}")
    return float(level)


def _check_tokens(tokens, name: str = "tokens") -> torch.Tensor:
    if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long or tokens.ndim != 2:
        raise ValueError(f"{name} must be an int64 tensor (batch, length), got "
                         f"{getattr(tokens, 'dtype', type(tokens).__name__)} {tuple(getattr(tokens, 'shape', ()))}")
    return tokens


def mask_tokens(tokens: torch.Tensor, level, generator: torch.Generator) -> torch.Tensor:
    """Bool mask ``(b, n)``: each token masked on its own with probability ``level`` (a number, or
    one per sequence ``(b,)``)."""
    tokens = _check_tokens(tokens)
    level = torch.as_tensor(level, dtype=torch.float32, device=tokens.device).reshape(-1, 1)
    u = torch.rand(tokens.shape, generator=generator, device=generator.device).to(tokens.device)
    return u < level


def clean_probs(net, z: torch.Tensor, mask_id: int, level=None) -> torch.Tensor:
    """The network's distribution of the clean token at every position, ``(b, n, vocab)`` float32,
    the mask's own probability 0 (its logit is set to -inf). ``level``: the noise level given to a
    time-conditioned network (``(b,)`` or a number; its sigma is ``-log(1 - level)``)."""
    b = z.shape[0]
    sigma = None
    if level is not None:
        lv = torch.as_tensor(level, dtype=torch.float32, device=z.device).reshape(-1).expand(b)
        sigma = -torch.log1p(-lv.clamp(max=1 - 1e-6))
    logits = net(z, sigma).float()
    logits[..., mask_id] = -math.inf
    return torch.softmax(logits, dim=-1)


def diffusion_loss(net, tokens: torch.Tensor, mask_id: int, generator: torch.Generator,
                   eps: float = 1e-3, antithetic: bool = True) -> torch.Tensor:
    """One Monte Carlo draw of the objective (module docstring), averaged over the batch.

    ``t = eps + (1 - eps) u`` per sequence; ``antithetic``: the ``u`` of a batch of ``b`` are
    ``(u0 + k / b) mod 1`` for one uniform ``u0`` (stratified, MDLM's low-discrepancy draw; the
    expectation is unchanged, the variance smaller)."""
    tokens = _check_tokens(tokens)
    if not (0 <= eps < 1):
        raise ValueError(f"eps must be in [0, 1), got {eps!r}")
    b, n = tokens.shape
    dev = tokens.device
    if antithetic:
        u0 = torch.rand((1,), generator=generator, device=generator.device).to(dev)
        u = (u0 + torch.arange(b, device=dev) / b) % 1.0
    else:
        u = torch.rand((b,), generator=generator, device=generator.device).to(dev)
    t = eps + (1 - eps) * u
    mask = mask_tokens(tokens, t, generator)
    z = tokens.masked_fill(mask, mask_id)
    sigma = -torch.log1p(-t.clamp(max=1 - 1e-6))
    logits = net(z, sigma).float()
    logits[..., mask_id] = -math.inf
    nll = -torch.log_softmax(logits, dim=-1).gather(-1, tokens[..., None]).squeeze(-1)
    per_seq = (nll * mask).sum(dim=1) / (t * n)
    return per_seq.mean()


def expected_loss(log_prob_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
                  eps: float = 0.0) -> float:
    """Exact expectation of the objective for one short sequence ``x`` (int64 ``(n,)``), summed
    over all ``2**n`` masks: ``log_prob_fn(x, mask) -> (n,)`` gives ``log f(z)_i[x_i]`` for the
    sequence masked at ``mask``. Each mask ``S`` of ``k`` tokens weighs
    ``int_eps^1 t**(k-1) (1-t)**(n-k) dt / ((1 - eps) n)`` (``t`` uniform on ``[eps, 1]``)."""
    x = torch.as_tensor(x)
    n = int(x.shape[0])
    if n > 16:
        raise ValueError(f"x must have at most 16 tokens for exact enumeration, got {n}")
    total = 0.0
    for code in range(1, 2**n):
        mask = torch.tensor([(code >> i) & 1 for i in range(n)], dtype=torch.bool)
        k = int(mask.sum())
        weight = _beta_tail(k, n - k + 1, eps) / ((1 - eps) * n)
        total += weight * float(-(log_prob_fn(x, mask)[mask]).sum())
    return total


def _beta_tail(a: int, b: int, eps: float) -> float:
    """``int_eps^1 t**(a-1) (1-t)**(b-1) dt`` for integers a, b >= 1 (binomial expansion)."""
    total = 0.0
    for j in range(b):
        coeff = math.comb(b - 1, j) * (-1) ** j
        total += coeff * (1 - eps ** (a + j)) / (a + j)
    return total


def _categorical(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flat = probs.reshape(-1, probs.shape[-1]).float()
    idx = torch.multinomial(flat.to(generator.device), 1, generator=generator).squeeze(-1)
    return idx.view(probs.shape[:-1]).to(probs.device)


@torch.no_grad()
def sample(probs_fn: Callable[[torch.Tensor, float], torch.Tensor], z: torch.Tensor, mask_id: int,
           generator: torch.Generator, level: float = 1.0, steps: int | None = None) -> torch.Tensor:
    """Reverse process from ``z`` (int64 ``(b, n)``, ``mask_id`` where masked) at ``level`` to clean
    tokens. ``probs_fn(z, level) -> (b, n, vocab)`` gives the clean-token distribution (e.g.
    ``lambda z, t: clean_probs(net, z, mask_id, t)``). ``steps=None``: one token per call, in a
    uniformly random order; else MDLM's ``steps`` ancestral steps (module docstring)."""
    z = _check_tokens(z, "z").clone()
    level = _check_level(level)
    b, n = z.shape
    masked = z == mask_id
    if steps is None:
        order = torch.rand((b, n), generator=generator, device=generator.device).to(z.device)
        order = order.masked_fill(~masked, 2.0).argsort(dim=1)
        rows = torch.arange(b, device=z.device)
        remaining = masked.sum(dim=1)
        for k in range(int(remaining.max()) if b else 0):
            active = remaining > k
            probs = probs_fn(z, (z == mask_id).float().mean(dim=1))
            pos = order[:, k]
            draw = _categorical(probs[rows, pos], generator)
            z[rows[active], pos[active]] = draw[active]
        return z
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be None or an int >= 1, got {steps!r}")
    probs = None
    for k in range(steps):
        if not masked.any():
            break
        t, s = level * (1 - k / steps), level * (1 - (k + 1) / steps)
        if probs is None:  # the prediction only changes when a token was revealed
            probs = probs_fn(z, t)
        reveal = masked & (torch.rand((b, n), generator=generator, device=generator.device).to(z.device)
                           < (t - s) / t)
        draws = _categorical(probs, generator)
        if reveal.any():
            z = torch.where(reveal, draws, z)
            masked = masked & ~reveal
            probs = None
    return z


class ModelDenoiser:
    """A network as a :class:`Denoiser`: masked positions get ``mask_id``, then :func:`sample`
    (``steps`` as there), ``batch_size`` sequences per network call."""

    def __init__(self, net, mask_id: int, steps: int | None = None, batch_size: int = 256,
                 device: torch.device | str | None = None):
        if isinstance(mask_id, bool) or not isinstance(mask_id, int) or mask_id < 0:
            raise ValueError(f"mask_id must be an int >= 0, got {mask_id!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.net, self.mask_id, self.steps, self.batch_size = net, mask_id, steps, batch_size
        self.device = torch.device(device) if device is not None else next(net.parameters()).device

    @torch.no_grad()
    def __call__(self, tokens: torch.Tensor, mask: torch.Tensor, level: float, seed: int) -> torch.Tensor:
        tokens = _check_tokens(tokens)
        out = []
        was_training = self.net.training
        self.net.eval()
        try:
            for i, lo in enumerate(range(0, tokens.shape[0], self.batch_size)):
                gen = torch_generator(derive_seed(int(seed), "mdlm.denoise", i))
                z = tokens[lo:lo + self.batch_size].to(self.device)
                z = z.masked_fill(mask[lo:lo + self.batch_size].to(self.device), self.mask_id)
                out.append(sample(lambda x, t: clean_probs(self.net, x, self.mask_id, t), z, self.mask_id,
                                  gen, level=max(float(level), 1e-6), steps=self.steps).cpu())
        finally:
            self.net.train(was_training)
        return torch.cat(out) if out else tokens.clone()


def forward_backward(denoiser: Denoiser, x0: torch.Tensor, level: float, n_traj: int, seed: int,
                     chunk: int = 4096) -> torch.Tensor:
    """``x0_hat`` ``(n_x0, n_traj, n)``: each clean sequence of ``x0`` (int64 ``(n_x0, n)``) masked
    ``n_traj`` times at ``level`` (every token on its own) and denoised by ``denoiser``. Masks and
    denoiser seeds come from ``seed`` (chunks of ``chunk`` rows, each with its own derived seed)."""
    x0 = _check_tokens(torch.as_tensor(x0), "x0")
    level = _check_level(level)
    if isinstance(n_traj, bool) or not isinstance(n_traj, int) or n_traj < 1:
        raise ValueError(f"n_traj must be an int >= 1, got {n_traj!r}")
    n_x0, n = x0.shape
    rows = x0.repeat_interleave(n_traj, dim=0)
    gen = torch_generator(derive_seed(int(seed), "mdlm.forward_backward.mask"))
    mask = torch.rand(rows.shape, generator=gen) < level
    out = torch.empty_like(rows)
    for i, lo in enumerate(range(0, rows.shape[0], chunk)):
        part, part_mask = rows[lo:lo + chunk], mask[lo:lo + chunk]
        filled = denoiser(part, part_mask, level, derive_seed(int(seed), "mdlm.forward_backward.denoise", i))
        filled = torch.as_tensor(filled).to(torch.long).cpu()
        if filled.shape != part.shape:
            raise ValueError(f"denoiser returned shape {tuple(filled.shape)}, expected {tuple(part.shape)}")
        out[lo:lo + chunk] = torch.where(part_mask, filled, part)
    return out.view(n_x0, n_traj, n)
