"""The optimisation settings every step-based training loop of the package shares (the learned
denoisers' :class:`hierphase.learned.settings.TrainConfig`, the masked diffusion transformer's
:class:`hierphase.mdlm.train.TrainConfig`): AdamW's learning rate and weight decay, the warm-up
and cosine decay of :func:`hierphase.training.warmup_cosine`, gradient clipping, and how often
the loop logs and checkpoints. Free of torch at import time, so that the workflow's planning
validates them without loading it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

__all__ = ["OptimisationSettings", "check_setting", "check_warmup"]


def check_setting(name: str, value, low: float, high: float, *, above_low: bool = False,
                  below_high: bool = False) -> None:
    """Refuse ``value`` unless it is a finite real number (Python or NumPy, not bool) in ``[low, high]``
    (``above_low``/``below_high``: the bound itself excluded); the message starts with ``name``."""
    excluded = ((f" and > {low:g}" if above_low else "") + (f" and < {high:g}" if below_high else ""))
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not low <= value <= high or (above_low and value == low) or (below_high and value == high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}]{excluded}, got {value!r}")


def check_warmup(warmup: int, steps: int) -> None:
    """Refuse a warm-up longer than the run: the learning rate would never reach its peak."""
    if warmup > steps:
        raise ValueError(f"warmup must be <= steps (the learning rate would never reach its peak), "
                         f"got warmup={warmup}, steps={steps}")


@dataclass(frozen=True)
class OptimisationSettings:
    """Steps, batch size and optimiser of a training loop; subclasses add what their loop draws
    (the noise levels, the masking objective's options) and check it after calling
    ``super().__post_init__()``."""

    steps: int = 2000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup: int = 100
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    log_every: int = 50
    checkpoint_every: int = 500

    def __post_init__(self):
        """Refuse what would train nonsense or crash late; messages start with the field's name."""
        for name in ("steps", "batch_size", "warmup", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        check_warmup(self.warmup, self.steps)
        check_setting("lr", self.lr, 0.0, math.inf, above_low=True)
        check_setting("weight_decay", self.weight_decay, 0.0, math.inf)
        check_setting("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        check_setting("grad_clip", self.grad_clip, 0.0, math.inf)

    def to_dict(self) -> dict:
        return asdict(self)
