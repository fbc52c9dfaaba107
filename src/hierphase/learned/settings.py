"""Settings of the learned branch's networks and training (config keys ``learned.network.*`` and
``learned.training.*``), free of torch at import time so that the workflow's planning validates
them without loading it. :mod:`hierphase.learned.networks`, :mod:`~hierphase.learned.diffusion`
and :mod:`~hierphase.learned.train` re-export them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from hierphase.optimisation import OptimisationSettings

__all__ = ["NetworkConfig", "TimeFocus", "UNIFORM_TIMES", "TrainConfig"]


@dataclass(frozen=True)
class NetworkConfig:
    """Hyper-parameters of :class:`TreeUNet` (config keys ``learned.network.*``)."""

    in_channels: int
    vocab: int
    s: int
    L: int
    width: int = 128
    blocks: int = 1
    expansion: int = 2
    #: True here so that checkpoints written before the key existed load as they were trained; the
    #: pipeline's default (``learned.network.time_conditioning``) is False.
    time_conditioning: bool = True

    def __post_init__(self):
        """Refuse sizes no tree U-Net has; messages start with the field's name."""
        for name, low in (("in_channels", 1), ("vocab", 2), ("s", 2), ("L", 1), ("width", 1),
                          ("blocks", 0), ("expansion", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.time_conditioning, bool):
            raise ValueError(f"time_conditioning must be true or false, got {self.time_conditioning!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TimeFocus:
    """Where training draws its noise levels (config ``learned.training.time_focus``): a fraction
    ``weight`` of every batch uniformly in (0, ``upper``] of t/T, the rest over the whole range.
    ``weight`` 0 is plain DDPM (every t/T equally often). The loss at each level is unchanged, so
    its minimiser, the posterior, is too; only how much of the training goes to each level moves.
    """

    upper: float = 1.0
    weight: float = 0.0

    def __post_init__(self):
        if not (isinstance(self.upper, (int, float)) and 0 < self.upper <= 1):
            raise ValueError(f"upper must be in (0, 1], got {self.upper!r}")
        if not (isinstance(self.weight, (int, float)) and 0 <= self.weight <= 1):
            raise ValueError(f"weight must be in [0, 1], got {self.weight!r}")

    @property
    def active(self) -> bool:
        return self.weight > 0 and self.upper < 1

    def steps(self, T: int, n: int, generator: torch.Generator, device) -> torch.Tensor:
        """``n`` integer steps in 1..T (the draws of plain DDPM when not :attr:`active`)."""
        import torch

        from .diffusion import _rand, _randint

        t = _randint(T, (n,), generator, device) + 1
        if not self.active:
            return t
        low = _randint(max(1, round(self.upper * T)), (n,), generator, device) + 1
        return torch.where(_rand((n,), generator, device) < self.weight, low, t)

    def fractions(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        """``n`` levels in [0, 1) as a column (masking's fraction of masked tokens)."""
        import torch

        from .diffusion import _rand

        frac = _rand((n, 1), generator, device)
        if not self.active:
            return frac
        low = _rand((n, 1), generator, device) * self.upper
        return torch.where(_rand((n, 1), generator, device) < self.weight, low, frac)


#: Plain DDPM training: every level equally often.
UNIFORM_TIMES = TimeFocus()


@dataclass(frozen=True)
class TrainConfig(OptimisationSettings):
    """Optimisation settings (config keys ``learned.training.*``): those of every training loop
    (:class:`hierphase.optimisation.OptimisationSettings`, whose defaults are this branch's), and
    where the noise levels of training are drawn."""

    #: Where the noise levels of training are drawn (:class:`TimeFocus`;
    #: a mapping {upper, weight} is accepted, as the config gives it).
    time_focus: TimeFocus = TimeFocus()

    def __post_init__(self):
        """Refuse what would train nonsense or crash late; messages start with the field's name."""
        if isinstance(self.time_focus, Mapping):
            try:
                object.__setattr__(self, "time_focus", TimeFocus(**self.time_focus))
            except (TypeError, ValueError) as err:
                raise ValueError(f"time_focus.{err}") from None
        super().__post_init__()
