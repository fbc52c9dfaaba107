"""The one place that turns a device setting (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...) into a
``torch.device``, for every branch (learned training and evaluation, image models, classifiers),
and that checks, first thing in a job that asked for GPUs, that CUDA really works there: a GPU job
never falls back to the CPU in silence (``device: auto`` would, on a node whose NVIDIA driver is
too old for this torch's CUDA)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import torch

__all__ = ["resolve_device", "require_gpus", "cuda_diagnosis", "nvidia_driver", "MIN_DRIVER"]

#: The oldest NVIDIA Linux driver that runs each CUDA major version (NVIDIA's CUDA compatibility
#: notes: minor-version compatibility within a major version needs at least this driver).
MIN_DRIVER = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}
#: Where the NVIDIA kernel driver describes itself on Linux.
NVIDIA_PROC = Path("/proc/driver/nvidia")

log = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None = "auto", key: str = "device") -> torch.device:
    """``None`` or ``"auto"`` -> ``cuda`` when a CUDA device is visible, else ``cpu``; anything else
    as given. Asking for CUDA where none is visible is a RuntimeError naming the config ``key``
    and why CUDA is not usable (:func:`cuda_diagnosis`), found here, before any model is built,
    rather than inside a job's first ``.to()``."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{key} is {str(device)!r} but no CUDA device is usable: "
                           f"{cuda_diagnosis()} Set {key}: auto or cpu.")
    return dev


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def nvidia_driver(proc: str | os.PathLike | None = None) -> tuple[str | None, list[str]]:
    """(version, GPU models) of the NVIDIA kernel driver of this machine, as it reports them in
    ``proc`` (default :data:`NVIDIA_PROC`; its ``version`` and ``gpus/*/information``) or else as
    ``nvidia-smi`` does; (None, []) where there is no NVIDIA driver."""
    proc = Path(NVIDIA_PROC if proc is None else proc)
    version, models = None, []
    try:
        text = (proc / "version").read_text()
        match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
        version = match.group(1) if match else None
        for info in sorted((proc / "gpus").glob("*/information")):
            match = re.search(r"^Model:\s*(.+?)\s*$", info.read_text(), re.M)
            if match:
                models.append(match.group(1))
    except OSError:
        pass
    if version is None and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version",
                                  "--format=csv,noheader"], capture_output=True, text=True,
                                 timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        rows = [[c.strip() for c in line.split(",")] for line in out.splitlines() if "," in line]
        if rows:
            version, models = rows[0][-1], [r[0] for r in rows]
    return version, models


def cuda_diagnosis(proc: str | os.PathLike | None = None) -> str:
    """Why CUDA may not be usable here, in one paragraph: the CUDA this torch is built for and the
    driver it needs, the driver and GPUs this machine has, what ``CUDA_VISIBLE_DEVICES`` shows."""
    cuda = torch.version.cuda
    parts = []
    if cuda is None:
        parts.append(f"this torch {torch.__version__} is built without CUDA (the CPU-only "
                     "environment); make the CUDA environment with HIERPHASE_TORCH=cuda "
                     "./workflow/with-env.sh (docs/configuration.md, \"A CPU-only torch\")")
        needed = None
    else:
        needed = MIN_DRIVER.get(int(cuda.split(".")[0]))
        need = f", which needs NVIDIA driver >= {needed}" if needed else ""
        parts.append(f"this torch {torch.__version__} is built for CUDA {cuda}{need}")
    version, models = nvidia_driver(proc)
    if version is None:
        parts.append("this machine has no NVIDIA driver (no GPU, or none given to this job)")
    else:
        gpus = "; GPUs: " + ", ".join(models) if models else "; no GPU listed"
        old = needed is not None and _version_key(version) < _version_key(needed)
        parts.append(f"this machine has NVIDIA driver {version}"
                     f"{' (too old: update it, or use a torch built for an older CUDA)' if old else ''}"
                     f"{gpus}")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    parts.append("CUDA_VISIBLE_DEVICES is unset" if visible is None
                 else f"CUDA_VISIBLE_DEVICES={visible!r}"
                 + (" (no GPU given to this job)" if visible.strip() in ("", "-1") else ""))
    return "; ".join(parts) + "."


def require_gpus(n: int = 1, job: str = "this job",
                 proc: str | os.PathLike | None = None) -> torch.device:
    """The first CUDA device, once it has been checked to work here for a job that asked for ``n``
    GPUs: at least ``n`` devices visible and a small computation run on the first. Otherwise a
    RuntimeError that names the job, the devices and the driver (:func:`cuda_diagnosis`): a job
    that asked for a GPU fails rather than running on the CPU."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer (GPUs the job asked for), got {n!r}")
    if not isinstance(job, str):
        raise TypeError(f"job must be a string, got {type(job).__name__}")
    if not torch.cuda.is_available():
        raise RuntimeError(f"{job} asked for {n} GPU(s) but CUDA is not usable here: "
                           f"{cuda_diagnosis(proc)}")
    count = torch.cuda.device_count()
    if count < n:
        raise RuntimeError(f"{job} asked for {n} GPU(s) but only {count} is visible: "
                           f"{cuda_diagnosis(proc)}")
    device = torch.device("cuda", 0)
    try:
        total = torch.arange(8, dtype=torch.float32, device=device).sum().item()
    except RuntimeError as e:  # e.g. no kernel image for this GPU, driver/runtime mismatch
        raise RuntimeError(f"{job} asked for {n} GPU(s) but {torch.cuda.get_device_name(0)} "
                           f"cannot run this torch's CUDA code ({e}): "
                           f"{cuda_diagnosis(proc)}") from e
    if total != 28.0:
        raise RuntimeError(f"{job}: a sum on {torch.cuda.get_device_name(0)} gave {total}, not "
                           f"28: the GPU or its driver is faulty; {cuda_diagnosis(proc)}")
    version, _ = nvidia_driver(proc)
    log.info("GPU check passed for %s: %s (CUDA %s, driver %s)", job,
             torch.cuda.get_device_name(0), torch.version.cuda, version or "unknown")
    return device
