"""The locked environment: the lock files pin every requirement of pyproject.toml, with hashes;
the conda environments agree with the lock (they are what workflow/scripts/lock-env.sh writes
from it); and the environment the suite runs in is exactly the platform's lock (what
workflow/with-env.sh installs)."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import tomllib
from importlib import metadata

import pytest
import yaml
from workflow_helpers import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PLATFORMS = ("x86_64", "aarch64")
LOCK_ENV = REPO / "workflow/scripts/lock-env.sh"


def lock_path(arch: str):
    return REPO / f"envs/lock-linux-{arch}.txt"


def read_lock(arch: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a lock file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in lock_path(arch).read_text().splitlines():
        if m := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            name = canonicalize_name(m.group(1))
            pins[name] = (m.group(2), [])
        elif m := re.match(r"^\s+--hash=sha256:([0-9a-f]{64})", line):
            pins[name][1].append(m.group(1))
    return pins


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return [r for r in reqs if canonicalize_name(r.name) != "hierphase"]


def torch_pair(arch: str) -> dict[str, str]:
    """The torch/torchvision pins lock-env.sh solves with on ``arch``."""
    line = re.search(rf"^\s*{arch}\) printf '([^']*)'", LOCK_ENV.read_text(), re.M).group(1)
    return dict(pin.split("==") for pin in line.split("\\n") if pin)


@pytest.mark.parametrize("arch", PLATFORMS)
def test_lock_pins_every_requirement_with_hashes(arch):
    pins = read_lock(arch)
    assert all(hashes for _, hashes in pins.values()), \
        [name for name, (_, hashes) in pins.items() if not hashes]
    unmet = []
    for req in project_requirements():
        version = pins.get(canonicalize_name(req.name), (None,))[0]
        if version is None or not req.specifier.contains(version, prereleases=True):
            unmet.append(f"{req} (lock: {version})")
    assert not unmet, f"envs/lock-linux-{arch}.txt does not satisfy pyproject.toml: {unmet}"
    for name, version in torch_pair(arch).items():
        assert pins[name][0] == version
    assert {"pip", "setuptools"} <= set(pins)  # the editable install builds without isolation


def test_conda_envs_are_generated_from_the_lock(tmp_path):
    """``lock-env.sh envs`` run on the lock rewrites envs/*.yaml byte for byte; their pins are the
    lock's versions."""
    (tmp_path / "workflow/scripts").mkdir(parents=True)
    shutil.copy2(LOCK_ENV, tmp_path / "workflow/scripts")
    shutil.copytree(REPO / "envs", tmp_path / "envs")
    for env in (tmp_path / "envs").glob("*.yaml"):
        env.unlink()
    subprocess.run([str(tmp_path / "workflow/scripts/lock-env.sh"), "envs"], check=True,
                   capture_output=True, text=True)
    written = sorted(p.name for p in (tmp_path / "envs").glob("*.yaml"))
    assert written == sorted(p.name for p in (REPO / "envs").glob("*.yaml"))
    pins = read_lock("x86_64")
    for name in written:
        assert (tmp_path / "envs" / name).read_bytes() == (REPO / "envs" / name).read_bytes(), \
            f"envs/{name} differs from what workflow/scripts/lock-env.sh writes"
        env = yaml.safe_load((REPO / "envs" / name).read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        for line in pip:
            if "==" in line:
                package, version = line.split("==")
                assert pins[canonicalize_name(package)][0] == version, (name, line)
        assert pip[-1] == "-e .."


def test_the_suite_runs_in_the_locked_environment():
    """What workflow/with-env.sh installed: exactly the platform's lock, plus hierphase."""
    arch = "aarch64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    want = {name: version for name, (version, _) in read_lock(arch).items()}
    have = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    assert have.pop("hierphase") == metadata.version("hierphase")
    assert have == want
