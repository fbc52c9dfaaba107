"""Atomic, reproducible file output: tables, tensors and their JSON sidecars.

Every writer goes through :func:`atomic_path`: data are written to a temporary file in the target's
folder and renamed into place, so a killed job never leaves a half-written output. Every output
``<stem>.<ext>`` gets a sidecar ``<stem>.meta.json`` holding the config it came from, its seed and
the versions of the packages that made it (no timestamps, so reruns are byte-identical).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "atomic_path",
    "sidecar_path",
    "package_versions",
    "write_sidecar",
    "read_sidecar",
    "write_json",
    "read_json",
    "write_table",
    "read_table",
    "save_tensors",
    "load_tensors",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def sidecar_path(path: str | os.PathLike) -> Path:
    """``results/x/table.parquet`` -> ``results/x/table.meta.json``."""
    p = Path(path)
    return p.with_name(p.name.split(".")[0] + ".meta.json")


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour the numbers depend on."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("hierphase", "numpy", "torch", "pandas", "numba", "diffusers", "torchvision"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> None:
    """Write ``data`` as sorted, indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def write_sidecar(path: str | os.PathLike, config: Mapping[str, Any] | None = None,
                  seed: int | None = None, **extra: Any) -> Path:
    """Write the sidecar of output ``path``: its config, seed, package versions and ``extra``."""
    meta = {"output": Path(path).name, "config": config or {}, "seed": seed,
            "versions": package_versions(), **extra}
    side = sidecar_path(path)
    write_json(side, meta)
    return side


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    return read_json(sidecar_path(path))


def write_table(df: pd.DataFrame, parquet: str | os.PathLike, csv: str | os.PathLike | None = None,
                config: Mapping[str, Any] | None = None, seed: int | None = None,
                **extra: Any) -> None:
    """Write ``df`` as parquet (and CSV for humans) atomically, plus the sidecar."""
    df = df.reset_index(drop=True)
    with atomic_path(parquet) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    if csv is not None:
        with atomic_path(csv) as tmp:
            df.to_csv(tmp, index=False, float_format="%.10g")
    write_sidecar(parquet, config=config, seed=seed, rows=len(df), columns=list(df.columns), **extra)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def save_tensors(path: str | os.PathLike, tensors: Mapping[str, Any],
                 config: Mapping[str, Any] | None = None, seed: int | None = None,
                 **extra: Any) -> None:
    """Save a dict of tensors (lists of tensors allowed) with ``torch.save``, atomically, plus sidecar."""
    import torch  # imported here: table and figure jobs need no torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        # A file object, not a path: torch records a path's (random, temporary) name in the archive.
        torch.save(dict(tensors), fh)
    write_sidecar(path, config=config, seed=seed, **extra)


def load_tensors(path: str | os.PathLike) -> dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
