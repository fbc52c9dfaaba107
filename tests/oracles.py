"""Test oracles: exact computations standing in for a trained model.

:class:`ExactDenoiser` puts exact BP (:func:`hierphase.bp.marginals`) in the place of a learned
network, so the learned samplers of :mod:`hierphase.learned.diffusion` can be checked against
exact BP.
"""

from __future__ import annotations

import torch

from hierphase import bp, noise
from hierphase.learned import diffusion


class ExactDenoiser(torch.nn.Module):
    """Exact BP in the place of a network: ``forward(x, time)`` takes the network input a process
    builds and returns log p(leaf | noisy state) from :func:`hierphase.bp.marginals`.

    With it the learned samplers must reproduce exact BP (the Gaussian one up to its time
    discretisation): the independent check of :meth:`sample` for every process, and a reference
    "perfect model" for the learned pipeline.
    """

    def __init__(self, rules, process):
        super().__init__()
        self.rules = rules
        self.process = process

    def _evidence(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        proc, v = self.process, self.rules.v
        if isinstance(proc, diffusion.GaussianDiffusion):
            return torch.log(x.double().clamp_min(1e-300)).transpose(1, 2)
        tokens = x.argmax(dim=1)
        if isinstance(proc, diffusion.MaskingDiffusion):
            mask = tokens == v
            return noise.masking_evidence(tokens.clamp_max(v - 1), mask, v)
        t = int(round(float(time[0]) * proc.T))
        if not torch.all((time * proc.T).round() == t):
            raise ValueError("ExactDenoiser: one noise level per batch")
        return noise.uniform_evidence(tokens, proc.schedule.abar(t), v)

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        leaves = bp.marginals(self.rules, self._evidence(x.cpu(), time.cpu()))[-1]
        return torch.log(leaves.clamp_min(1e-300)).transpose(1, 2).float().to(x.device)
