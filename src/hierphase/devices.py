"""The one place that turns a device setting (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...) into a
``torch.device``, for every branch (learned training and evaluation, image models, classifiers)."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = "auto", key: str = "device") -> torch.device:
    """``None`` or ``"auto"`` -> ``cuda`` when a CUDA device is visible, else ``cpu``; anything else
    as given. Asking for CUDA where none is visible is a RuntimeError naming the config ``key``
    (found here, before any model is built, rather than inside a job's first ``.to()``)."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{key} is {str(device)!r} but no CUDA device is visible; "
                           f"set {key}: auto or cpu")
    return dev
