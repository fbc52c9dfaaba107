"""Seeds derived from names, never from time or job order.

Every random draw in the pipeline takes its seed from ``derive_seed(config_seed, stage, *wildcards)``,
so the same config gives the same numbers whatever order jobs run in and however many cores.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

__all__ = ["derive_seed", "torch_generator", "numpy_generator"]


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any JSON-serialisable parts (ints, floats, strings, lists).

    The parts are serialised canonically and hashed with SHA-256, so ``derive_seed(0, "sweep", 4)``
    differs from ``derive_seed(0, "sweep", 5)`` and from ``derive_seed(0, "data", 4)``.
    """
    blob = json.dumps(list(parts), sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "little") >> 1


def torch_generator(seed: int):
    """A CPU ``torch.Generator`` seeded with ``seed``."""
    import torch

    from .checks import check_seed

    g = torch.Generator(device="cpu")
    g.manual_seed(check_seed(seed))
    return g


def numpy_generator(seed: int) -> np.random.Generator:
    """A numpy ``Generator`` (PCG64) seeded with ``seed``."""
    from .checks import check_seed

    return np.random.default_rng(check_seed(seed))
