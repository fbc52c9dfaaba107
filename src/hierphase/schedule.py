"""The names of the forward noise processes and the DDPM variance schedule, free of torch at
import time, so that the workflow's planning validates a schedule without loading torch (the
schedule's tensors import it when first asked for). :mod:`hierphase.noise` re-exports them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import check_int, check_real, check_unit

__all__ = ["FORWARD_PROCESSES", "TIME_PROCESSES", "GaussianSchedule"]

#: Processes indexed by a time step ``t`` of a schedule (noise level ``t/T``).
TIME_PROCESSES = ("gaussian", "masking", "uniform")
#: Every process :func:`forward_evidence` knows: the epsilon-process (indexed by eps) and the time ones.
FORWARD_PROCESSES = ("epsilon", *TIME_PROCESSES)


@dataclass(frozen=True)
class GaussianSchedule:
    """DDPM variance schedule. ``betas[t-1]`` is the step-t variance (t = 1..T);
    ``alphas_bar[t] = prod_{u<=t} (1 - beta_u)`` with ``alphas_bar[0] = 1`` (t = 0 is clean).

    ``kind="linear"``: betas evenly spaced from ``beta_start`` to ``beta_end`` (DDPM; used as given
    for any T, as in diffusers' ``DDPMScheduler``); ``kind="cosine"``: Nichol & Dhariwal (2021),
    offset 0.008, betas clipped at 0.999 (``beta_start``/``beta_end`` unused).
    """

    T: int = 1000
    kind: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self):
        if isinstance(self.T, bool) or not isinstance(self.T, int) or self.T < 1:
            raise ValueError(f"GaussianSchedule: T must be an int >= 1, got {self.T!r}")
        if not isinstance(self.kind, str) or self.kind not in ("linear", "cosine"):
            raise ValueError(f"GaussianSchedule: kind must be 'linear' or 'cosine', got {self.kind!r}")
        check_real(self.beta_start, "beta_start")
        check_real(self.beta_end, "beta_end")
        if not 0.0 < self.beta_start <= self.beta_end < 1.0:
            raise ValueError("GaussianSchedule: beta_start must satisfy 0 < beta_start <= beta_end < 1, "
                             f"got beta_start={self.beta_start}, beta_end={self.beta_end}")

    @property
    def betas(self) -> torch.Tensor:
        """float64 (T,)."""
        import torch

        if self.kind == "linear":
            return torch.linspace(self.beta_start, self.beta_end, self.T, dtype=torch.float64)
        steps = torch.arange(self.T + 1, dtype=torch.float64) / self.T
        f = torch.cos((steps + 0.008) / 1.008 * math.pi / 2) ** 2
        abar = f / f[0]
        return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)

    @property
    def alphas_bar(self) -> torch.Tensor:
        """float64 (T+1,), index t = 0..T, ``alphas_bar[0] = 1``."""
        import torch

        return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - self.betas, 0)])

    def abar(self, t: int) -> float:
        """``alphas_bar[t]`` as a float, with a range check on t."""
        return float(self.alphas_bar[self.check_t(t)])

    def check_t(self, t) -> int:
        return check_int(t, "t", 0, self.T)

    def step(self, level: float) -> int:
        """``t = round(level * T)`` for ``level = t/T`` in [0, 1]."""
        return int(round(check_unit(level, "t/T") * self.T))
