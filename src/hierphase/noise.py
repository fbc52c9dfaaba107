"""Forward noise processes on RHM leaves and the per-leaf evidence they give to BP.

Every ``*_evidence`` function returns **log-evidence**, a float tensor ``(n, d, v)`` whose entry
``[i, j, a]`` is ``log p(observation of leaf j | leaf j = a)`` up to a per-leaf constant
(``-inf`` where a value is impossible). Processes:

- epsilon-process (the theory's): belief ``1 - eps + eps/v`` on the true symbol, ``eps/v`` elsewhere;
- Gaussian DDPM on the one-hot ``(n, v, d)`` with a linear or cosine schedule;
- masking (absorbing): a fraction of leaves, drawn per datum, is masked (uniform evidence);
- uniform-token (D3PM-uniform): each leaf resampled uniformly with probability ``1 - abar``.

Random draws take explicit seeds (see :mod:`hierphase.seeding`).
"""

from __future__ import annotations

import math

import torch

from .checks import (check_float_dtype, check_int, check_int_array, check_memory, check_real,
                     check_seed, check_unit)
from .schedule import FORWARD_PROCESSES, TIME_PROCESSES, GaussianSchedule
from .seeding import derive_seed, torch_generator

__all__ = [
    "FORWARD_PROCESSES",
    "TIME_PROCESSES",
    "epsilon_evidence",
    "GaussianSchedule",
    "gaussian_forward",
    "gaussian_evidence",
    "masking_forward",
    "masking_evidence",
    "uniform_forward",
    "uniform_evidence",
    "forward_evidence",
]


def _leaves(leaves, name: str = "leaves") -> torch.Tensor:
    """Integer leaves (n, d) as a LongTensor (a float array is refused, never truncated)."""
    leaves = check_int_array(leaves, name)
    if leaves.dim() != 2:
        raise ValueError(f"{name} must have shape (n, d), got {tuple(leaves.shape)}")
    return leaves


def _check_v(leaves: torch.Tensor, v: int, name: str = "leaves") -> int:
    v = check_int(v, "v", 2)
    check_memory(8 * leaves.numel() * v, "v", f"the evidence of {name} {tuple(leaves.shape)} "
                 f"over v={v} symbols")
    if leaves.numel() and (leaves.min() < 0 or leaves.max() >= v):
        raise ValueError(f"{name}: leaf values must lie in [0, v={v})")
    return v


def _check_unit(name: str, x: float) -> float:
    return check_unit(x, name)


def _check_schedule(schedule) -> "GaussianSchedule":
    if not isinstance(schedule, GaussianSchedule):
        raise TypeError(f"schedule must be a GaussianSchedule, got {type(schedule).__name__}")
    return schedule


def _two_level(leaves: torch.Tensor, v: int, on: float, off: float,
               dtype: torch.dtype) -> torch.Tensor:
    """Log-evidence with probability ``on`` at the true symbol and ``off`` elsewhere."""
    log_on = math.log(on) if on > 0 else -math.inf
    log_off = math.log(off) if off > 0 else -math.inf
    out = torch.full((*leaves.shape, v), log_off, dtype=dtype)
    out.scatter_(-1, leaves.unsqueeze(-1), log_on)
    return out


def epsilon_evidence(leaves, eps: float, v: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Epsilon-process log-evidence ``(n, d, v)``: ``log(1 - eps + eps/v)`` at the true leaf,
    ``log(eps/v)`` elsewhere. ``eps = 0`` is clean, ``eps = 1`` carries no information."""
    leaves = _leaves(leaves)
    _check_v(leaves, v)
    eps = _check_unit("eps", eps)
    check_float_dtype(dtype)
    return _two_level(leaves, v, 1.0 - eps + eps / v, eps / v, dtype)


def gaussian_forward(leaves, v: int, schedule: GaussianSchedule, t: int, seed: int,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``x_t = sqrt(abar_t) onehot(x0) + sqrt(1 - abar_t) eta``, shape (n, v, d).

    Computed in place on the draws (scale, then add ``sqrt(abar_t)`` at each leaf's symbol):
    the same numbers as the formula, without its four full-size temporaries."""
    leaves = _leaves(leaves)
    _check_v(leaves, v)
    check_float_dtype(dtype)
    abar = _check_schedule(schedule).abar(t)
    n, d = leaves.shape
    gen = torch_generator(derive_seed(check_seed(seed), "noise.gaussian"))
    x = torch.randn((n, v, d), generator=gen, dtype=dtype)
    if abar >= 1.0:
        x.zero_()  # 0 * eta would leave -0.0 where eta < 0
    else:
        x.mul_(math.sqrt(1.0 - abar))
    return x.scatter_add_(1, leaves.unsqueeze(1), torch.full((n, 1, d), math.sqrt(abar),
                                                             dtype=dtype))


def gaussian_evidence(x_t: torch.Tensor, schedule: GaussianSchedule, t: int,
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Exact log-likelihood ``log p(x_t | leaf = a)`` (normalised over a), (n, d, v).

    ``p(x_t | a) ∝ exp(sqrt(abar) x_t[a] / (1 - abar))``; at t = 0 (abar = 1) the leaf is read off
    as the argmax of ``x_t`` (evidence one-hot)."""
    check_float_dtype(dtype)
    _check_schedule(schedule)
    if not isinstance(x_t, torch.Tensor):
        raise TypeError(f"x_t must be a float tensor (n, v, d), got {type(x_t).__name__}")
    x = x_t
    if x.dim() != 3 or not x.is_floating_point():
        raise ValueError(f"x_t must be a float tensor (n, v, d), got {x.dtype} {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("x_t must be finite, got NaN or infinite values")
    x = x.to(dtype).transpose(1, 2)  # (n, d, v)
    abar = schedule.abar(t)
    if abar >= 1.0:
        idx = x.argmax(-1, keepdim=True)
        out = torch.full_like(x, -math.inf)
        return out.scatter_(-1, idx, 0.0)
    # a copy contiguous over v, scaled in place: log_softmax along a strided dimension is
    # several times slower (same numbers)
    x = x.to(dtype, copy=True, memory_format=torch.contiguous_format)
    return torch.log_softmax(x.mul_(math.sqrt(abar) / (1.0 - abar)), dim=-1)


def masking_forward(leaves, fraction: float, seed: int, independent: bool = False) -> torch.Tensor:
    """Mask BoolTensor (n, d): per datum exactly ``round(fraction * d)`` leaves, chosen uniformly;
    or, with ``independent``, each leaf masked on its own with probability ``fraction``.

    The exact count anticorrelates the leaves' mask indicators (their sum is fixed, so the
    indicators' covariances sum to zero over all pairs): change correlations use independent
    masks, whose indicators are uncorrelated."""
    leaves = _leaves(leaves)
    fraction = _check_unit("fraction", fraction)
    if not isinstance(independent, bool):
        raise TypeError(f"independent must be a bool, got {independent!r}")
    n, d = leaves.shape
    gen = torch_generator(derive_seed(check_seed(seed), "noise.masking"))
    u = torch.rand((n, d), generator=gen, dtype=torch.float64)
    if independent:
        return u < fraction
    k = int(round(fraction * d))
    return u.argsort(dim=1).argsort(dim=1) < k


def masking_evidence(leaves, mask: torch.Tensor, v: int,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Masked leaves: uniform (log 1 = 0 everywhere); unmasked: 0 at the true value, -inf elsewhere."""
    leaves = _leaves(leaves)
    _check_v(leaves, v)
    check_float_dtype(dtype)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor, got {type(mask).__name__} "
                        f"{getattr(mask, 'dtype', '')}")
    if mask.shape != leaves.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} must equal leaves shape {tuple(leaves.shape)}")
    out = _two_level(leaves, v, 1.0, 0.0, dtype)
    out[mask] = 0.0
    return out


def uniform_forward(leaves, v: int, abar: float, seed: int) -> torch.Tensor:
    """Each leaf kept with probability ``abar``, else replaced by a uniform draw from ``range(v)``."""
    leaves = _leaves(leaves)
    _check_v(leaves, v)
    abar = _check_unit("abar", abar)
    gen = torch_generator(derive_seed(check_seed(seed), "noise.uniform"))
    resample = torch.rand(leaves.shape, generator=gen, dtype=torch.float64) >= abar
    fresh = torch.randint(v, leaves.shape, generator=gen)
    return torch.where(resample, fresh, leaves)


def uniform_evidence(noisy, abar: float, v: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``log(abar * onehot(noisy) + (1 - abar)/v)``, (n, d, v)."""
    noisy = _leaves(noisy, "noisy")
    _check_v(noisy, v, "noisy")
    abar = _check_unit("abar", abar)
    check_float_dtype(dtype)
    return _two_level(noisy, v, abar + (1.0 - abar) / v, (1.0 - abar) / v, dtype)


def forward_evidence(process: str, leaves, v: int, level: float, seed: int,
                     schedule: GaussianSchedule | None = None,
                     dtype: torch.dtype = torch.float64,
                     independent_masks: bool = False) -> torch.Tensor:
    """Noise clean leaves (n, d) and return the log-evidence (n, d, v) BP receives.

    ``level`` is eps for ``"epsilon"`` and t/T in [0, 1] for ``"gaussian"``, ``"masking"`` and
    ``"uniform"`` (``t = round(level * T)``; masking hides a fraction t/T of the leaves, or each
    leaf with probability t/T when ``independent_masks``; uniform uses ``abar_t``). ``schedule``
    defaults to ``GaussianSchedule()``.
    """
    if not isinstance(process, str) or process not in FORWARD_PROCESSES:
        raise ValueError(f"process must be one of {FORWARD_PROCESSES}, got {process!r}")
    check_seed(seed)
    check_float_dtype(dtype)
    check_unit(level, "level (eps or t/T)")
    if process == "epsilon":
        return epsilon_evidence(leaves, level, v, dtype=dtype)
    schedule = GaussianSchedule() if schedule is None else _check_schedule(schedule)
    t = schedule.step(level)
    if process == "gaussian":
        x_t = gaussian_forward(leaves, v, schedule, t, seed, dtype=dtype)
        return gaussian_evidence(x_t, schedule, t, dtype=dtype)
    if process == "masking":
        mask = masking_forward(leaves, t / schedule.T, seed, independent=independent_masks)
        return masking_evidence(leaves, mask, v, dtype=dtype)
    abar = schedule.abar(t)
    return uniform_evidence(uniform_forward(leaves, v, abar, seed), abar, v, dtype=dtype)
