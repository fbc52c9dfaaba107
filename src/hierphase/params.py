"""Validation of the RHM parameters ``(v, m, s, L, n_classes)``, shared by every module that takes
them (:mod:`hierphase.rhm`, :mod:`hierphase.theory`) and by the workflow's config checks.

Torch-free on purpose: the mean-field tables and the config validation import it without torch.
"""

from __future__ import annotations

import numbers

__all__ = ["is_int", "validate_params", "CODE_LIMIT", "MAX_DEPTH"]

#: Tuples of ``s`` symbols are coded as integers below ``v**s``, held in int64 tensors.
CODE_LIMIT = 2**63 - 1
#: Deepest tree accepted: a bound on the per-level loops of sampling and mean-field theory (the
#: data of a deep tree are bounded by memory, :func:`hierphase.rhm.tree_bytes`).
MAX_DEPTH = 10_000


def is_int(x) -> bool:
    """True for Python and NumPy integers, False for bools and everything else."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def validate_params(v: int, m: int, s: int, L: int, n_classes: int | None = None) -> int:
    """Check RHM parameters; return ``n_classes`` (defaulting to ``v``). Raises ValueError whose
    message starts with ``RHM parameter <name>`` (or ``RHM parameters`` for joint constraints)."""
    for name, value in (("v", v), ("m", m), ("s", s), ("L", L)):
        if not is_int(value):
            raise ValueError(f"RHM parameter {name} must be an int, got {value!r}")
    if n_classes is None:
        n_classes = v
    if not is_int(n_classes):
        raise ValueError(f"RHM parameter n_classes must be an int, got {n_classes!r}")
    v, m, s, L, n_classes = int(v), int(m), int(s), int(L), int(n_classes)
    if v < 2:
        raise ValueError(f"RHM parameter v (vocabulary size) must be >= 2, got v={v}")
    if s < 2:
        raise ValueError(f"RHM parameter s (tuple size) must be >= 2, got s={s}")
    if L < 1:
        raise ValueError(f"RHM parameter L (depth) must be >= 1, got L={L}")
    if m < 1:
        raise ValueError(f"RHM parameter m (rules per symbol) must be >= 1, got m={m}")
    if n_classes < 1:
        raise ValueError(f"RHM parameter n_classes must be >= 1, got n_classes={n_classes}")
    if s * (v.bit_length() - 1) >= 63 or v**s > CODE_LIMIT:  # the first test spares v**s huge
        raise ValueError(
            f"RHM parameters must satisfy v**s <= 2**63 - 1 (tuple codes are 64-bit integers), "
            f"got v={v}, s={s}")
    if L > MAX_DEPTH:
        raise ValueError(f"RHM parameter L (depth) must be <= {MAX_DEPTH} (every level is a loop "
                         f"step; the mean-field curves have long converged), got L={L}")
    if m > v ** (s - 1):
        raise ValueError(
            f"RHM parameter m must satisfy m <= v**(s-1) (v*m distinct tuples out of v**s), "
            f"got m={m}, v**(s-1)={v ** (s - 1)}")
    if n_classes * m > v**s:
        raise ValueError(
            f"RHM parameters must satisfy n_classes*m <= v**s (distinct root tuples), "
            f"got n_classes*m={n_classes * m}, v**s={v**s}")
    return n_classes
