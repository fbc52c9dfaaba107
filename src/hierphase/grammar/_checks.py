"""Input checks shared by the grammar modules (ValueError naming the argument)."""

from __future__ import annotations

import torch

from ..params import is_int


def check_count(name: str, value, minimum: int) -> int:
    """``value`` as an int, if it is an integer (not a bool) >= ``minimum``."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_evidence(log_evidence, n_terminals: int) -> torch.Tensor:
    """Per-token log-evidence as a float64 CPU tensor (b, n >= 1, V) with a finite entry per
    token."""
    ev = torch.as_tensor(log_evidence)
    if ev.dim() != 3 or ev.shape[1] < 1 or ev.shape[2] != n_terminals:
        raise ValueError(f"log_evidence must have shape (batch, n >= 1, V={n_terminals}), "
                         f"got {tuple(ev.shape)}")
    if not ev.is_floating_point():
        raise ValueError("log_evidence must be a floating-point tensor")
    ev = ev.detach().cpu().to(torch.float64)
    if ev.numel() and not bool(torch.isfinite(ev.amax(-1)).all()):
        raise ValueError("log_evidence: every token needs a finite entry (no NaN or +inf)")
    return ev
