"""Argument checks shared by the public functions of the science modules: each raises
ValueError or TypeError whose message starts with the argument's name, so that a wrong call
fails where it is made instead of truncating a float, propagating a NaN or crashing deep inside
with an IndexError.

Torch-free at import (the mean-field modules use it without torch); the tensor checks import
torch when called.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from .params import is_int

__all__ = ["ArgumentTypeError", "check_int", "check_seed", "check_real", "check_unit", "check_finite",
           "check_int_array", "check_float_dtype", "check_rules", "check_memory", "physical_memory",
           "SEED_LIMIT"]

class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a float where an int is meant, a bool where a number is):
    a TypeError, and a ValueError too, as the package's checks raised before."""


#: Seeds are hashed into 63-bit integers; larger ones would overflow the generators.
SEED_LIMIT = 2**63


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int: an integer (Python or NumPy, not bool, not a float however whole)
    in ``[minimum, maximum]`` (``maximum`` defaults to ``2**63 - 1``: what the arrays and
    generators below take)."""
    if not is_int(value):
        raise ArgumentTypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    maximum = SEED_LIMIT - 1 if maximum is None else maximum
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_seed(value, name: str = "seed") -> int:
    """A seed: an int in ``[0, 2**63)`` (a float seed would be truncated silently)."""
    return check_int(value, name, 0, SEED_LIMIT - 1)


def check_real(value, name: str, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a finite float (an int or float, not bool, not NaN) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    return value


def check_unit(value, name: str) -> float:
    """A probability or noise level: a finite real in [0, 1]."""
    return check_real(value, name, 0.0, 1.0)


def check_finite(x, name: str, low: float | None = None, high: float | None = None) -> np.ndarray:
    """``x`` (a number, array or CPU/device tensor) as a float64 array of finite values in
    ``[low, high]``."""
    if hasattr(x, "detach"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ArgumentTypeError(f"{name} must be numbers, got {type(x).__name__}: {err}") from None
    if np.asarray(x).dtype == bool:
        raise ArgumentTypeError(f"{name} must be numbers, got booleans")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got NaN or infinite values")
    if (low is not None and (arr < low).any()) or (high is not None and (arr > high).any()):
        raise ValueError(f"{name} must lie in [{low}, {high}]")
    return arr


def check_int_array(x, name: str, ndim: int | None = None):
    """``x`` (array, tensor or nested list) as an int64 tensor: its values must be integers
    already (a float or bool array is refused, not truncated)."""
    import torch

    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ArgumentTypeError(f"{name} must be an integer array, got {type(x).__name__}: {err}") from None
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise ArgumentTypeError(f"{name} must hold integers, got dtype {t.dtype} (values are not "
                        "truncated silently)")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    return t.long()


def check_float_dtype(dtype, name: str = "dtype"):
    """A torch floating-point dtype (an integer dtype would truncate log-probabilities)."""
    import torch

    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ArgumentTypeError(f"{name} must be a torch floating-point dtype, got {dtype!r}")
    return dtype


def check_rules(rules, name: str = "rules"):
    """An :class:`hierphase.rhm.Rules` (a dict must go through ``rhm.rules_from_dict`` first)."""
    from .rhm import Rules

    if not isinstance(rules, Rules):
        raise ArgumentTypeError(f"{name} must be hierphase.rhm.Rules, got {type(rules).__name__} "
                        "(rhm.load_rules reads a dict or a file)")
    return rules


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def check_memory(n_bytes: int, name: str, what: str) -> None:
    """Refuse (ValueError naming argument ``name``) a computation that would allocate
    ``n_bytes`` (``what``: which array), more than this machine's physical memory."""
    have = physical_memory()
    if have is not None and n_bytes > have:
        raise ValueError(f"{name}: {what} would need about {n_bytes / 2**30:.3g} GiB, more than "
                         f"this machine's {have / 2**30:.3g} GiB; lower {name}")
