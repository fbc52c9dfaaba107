"""The README and docs/ as a user reads them: every command they show runs, every Python example
runs, every link and repository path they cite exists.

Conventions (docs/README.md): commands are ``$ `` lines of fenced ``console`` blocks, each
followed by the output it prints (checked, ``...`` standing for anything; shown output with an
error means the command must fail). Each block runs in a fresh copy of the workflow.
``./workflow/with-env.sh`` is dropped (this interpreter is that environment); ``snakemake`` runs as
a dry run (``-n``), except a run whose report a later command of the block makes, which runs for
real; ``pytest`` collects only; a benchmark script must accept every option shown; file edits
(``sed``) and ``python -m hierphase.progress`` (dry runs only) run as written.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import (REPO, RHM_ONLY, SMOKE, copy_workflow, snakemake_command,
                              snakemake_env, start_from)

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
#: Files outside the repository that its text must never refer to.
OUTSIDE = ("PAPER.md", "STYLE.md", "../shared")
#: Top-level entries a cited repository path starts with.
REPO_PREFIXES = ("workflow/", "src/", "tests/", "benchmarks/", "envs/", "docs/", ".ci/",
                 ".github/")
ROOT_FILES = ("Snakefile", "config.yaml", "pyproject.toml", "README.md", ".gitignore")
#: Made by a run or placed by the user, so not in a clone.
NOT_IN_CLONE = ("results/", "logs/", "resources/")
PLACEHOLDER = re.compile(r"[<>{}*]|\.\.\.")


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def fenced_blocks(path: Path) -> list[tuple[str, str, int]]:
    """(language, body, line number) of every fenced block of a Markdown file."""
    text = path.read_text()
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in FENCE.finditer(text)]


def console_commands(body: str) -> list[tuple[str, list[str]]]:
    """(command, output lines shown after it) of a console block; ``\\`` continues a command."""
    commands: list[tuple[str, list[str]]] = []
    continued = False
    for line in body.splitlines():
        if continued:
            commands[-1] = (commands[-1][0].rstrip("\\ ") + " " + line.strip(), commands[-1][1])
        elif line.startswith("$ "):
            commands.append((line[2:].strip(), []))
        elif line.strip() and commands:
            commands[-1][1].append(line.strip())
        elif line.strip():
            raise AssertionError(f"console block line before any command: {line!r}")
        continued = line.rstrip().endswith("\\")
    return commands


def _blocks(*languages: str) -> list:
    params = []
    for path in DOCS:
        for lang, body, line in fenced_blocks(path):
            if lang in languages:
                params.append(pytest.param(path, body, id=f"{_rel(path)}:{line}"))
    return params


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=snakemake_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def _as_tested(argv: list[str], work: Path, dry: bool = True) -> tuple[list[str], Path]:
    """The command as this test runs it (see the module docstring) and where; ``dry=False``
    runs a snakemake command for real."""
    if argv[0] == "./workflow/with-env.sh":
        assert os.access(REPO / "workflow/with-env.sh", os.X_OK)
        argv = argv[1:]
    program, args = argv[0], argv[1:]
    if program == "snakemake":
        return snakemake_command(*args, *([] if "-n" in args or not dry else ["-n"])), work
    if program == "pytest":
        return [sys.executable, "-m", "pytest", *args, "--collect-only", "-q", "-n", "0"], REPO
    if program == "python" and args and args[0].startswith("benchmarks/"):
        return [sys.executable, *args], REPO
    if program == "python" and args[:2] == ["-m", "hierphase.progress"]:
        return [sys.executable, *args], work  # dry runs only: as written
    if program == "sed":
        return argv, work
    pytest.fail(f"the docs test does not know how to run {program!r} ({shlex.join(argv)}); "
                "teach _as_tested, or show the command in a text block", pytrace=False)


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _shown(line: str) -> re.Pattern:
    """A line of shown output as a pattern: ``...`` stands for anything."""
    return re.compile(".*?".join(re.escape(part) for part in _normalised(line).split("...")))


def _configfiles(args: list[str]) -> list[str]:
    """The values of ``--configfile`` in snakemake's ``args``."""
    if "--configfile" not in args:
        return []
    rest = args[args.index("--configfile") + 1:]
    return rest[:next((i for i, a in enumerate(rest) if a.startswith("-")), len(rest))]


@pytest.mark.slow
@pytest.mark.parametrize("doc, body", _blocks("console"))
def test_console_block_runs(doc, body, tmp_path, request):
    """Every command of the block, in order, in one copy of the workflow (``sed`` edits there).
    A real run of the smoke preset's RHM branch (no target) starts from the session's run of
    it, which the other workflow tests check job by job."""
    work = copy_workflow(tmp_path / "work")
    commands = console_commands(body)
    assert commands, "a console block without a command"
    for i, (command, shown) in enumerate(commands):
        # a run whose report a later command of the block makes runs for real
        report_follows = any("--report" in later for later, _ in commands[i + 1:])
        argv, cwd = _as_tested(shlex.split(command), work, dry=not report_follows)
        if report_follows and _configfiles(argv) == [SMOKE, RHM_ONLY] \
                and argv[1].startswith("-"):  # no target: the whole (RHM-only) DAG
            start_from(work, request.getfixturevalue("rhm_smoke"))
        if argv[1:2] and argv[1].startswith("benchmarks/"):
            # a benchmark runs for minutes: check that it takes every option shown
            proc = _run([argv[0], argv[1], "--help"], cwd)
            assert proc.returncode == 0, proc.stdout[-3000:]
            unknown = [a.split("=")[0] for a in argv[2:]
                       if a.startswith("--") and a.split("=")[0] not in proc.stdout]
            assert not unknown, f"{command}: {argv[1]} takes no option {unknown}"
            continue
        proc = _run(argv, cwd)
        out = _normalised(proc.stdout)
        expect_failure = any("error" in line.lower() for line in shown)
        if expect_failure:
            assert proc.returncode != 0, f"{command} should fail:\n{proc.stdout[-3000:]}"
        else:
            assert proc.returncode == 0, f"{command} (run as {shlex.join(argv)}) failed:\n" \
                                         f"{proc.stdout[-4000:]}"
        for line in shown:
            assert _shown(line).search(out), \
                f"{command}: expected {line!r} in its output:\n{proc.stdout[-4000:]}"


@pytest.mark.parametrize("doc, body", _blocks("python"))
@pytest.mark.slow  # over a second: the fast suite keeps sub-second tests
def test_python_block_runs(doc, body, tmp_path):
    proc = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, env=snakemake_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_readme_is_the_front_door():
    readme = REPO / "README.md"
    lines = readme.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines"
    blocks = fenced_blocks(readme)
    # exactly two set-up commands up front: the main job and the tests (.ci/run's test command)
    first = [console_commands(body)[0][0] for lang, body, _ in blocks if lang == "console"][:2]
    assert first == ["./workflow/with-env.sh snakemake --workflow-profile workflow/profiles/default",
                     "./workflow/with-env.sh pytest"]
    assert "./workflow/with-env.sh pytest" in (REPO / ".ci/run").read_text()
    # the five-line example: rules, trees, evidence, posterior sample, kept fraction
    python = [body for lang, body, _ in blocks if lang == "python"]
    assert len(python) == 1
    code = [ln for ln in python[0].splitlines() if ln.strip() and not ln.startswith("from ")]
    assert len(code) == 5, code
    for call in ("rhm.sample_rules", "rhm.sample_trees", "noise.forward_evidence",
                 "bp.sample_posterior", "observables.kept_fraction"):
        assert call in python[0], call


def test_commands_are_in_console_blocks():
    """No shell block escapes the test: commands go in console blocks (docs/README.md)."""
    for path in DOCS:
        for lang, _, line in fenced_blocks(path):
            assert lang in ("console", "python", "text", "yaml"), f"{_rel(path)}:{line}: {lang!r}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_relative_links_exist():
    missing = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                missing.append(f"{_rel(path)}: {target}")
            elif anchor:
                headings = re.findall(r"^#+ (.+)$", dest.read_text(), re.M)
                if anchor not in {_slug(h) for h in headings}:
                    missing.append(f"{_rel(path)}: {target} (no such heading)")
    assert not missing, missing


def cited_paths(text: str) -> set[str]:
    """Repository paths written in backticks (placeholders and run outputs left out)."""
    paths = set()
    for span in re.findall(r"`([^`\n]+)`", text):
        for token in span.split():
            token = token.strip("'\",;:()")
            if PLACEHOLDER.search(token) or token.startswith(NOT_IN_CLONE):
                continue
            if token.startswith(REPO_PREFIXES) or token in ROOT_FILES:
                paths.add(token.split("#")[0].split(":")[0])
    return paths


def test_cited_paths_exist():
    missing = [f"{_rel(path)}: {p}" for path in DOCS for p in sorted(cited_paths(path.read_text()))
               if not (REPO / p).exists()]
    assert not missing, missing


def test_cited_paths_are_found():
    """The path finder itself: finds real paths, skips placeholders, outputs and plain words."""
    text = ("run `python benchmarks/bench_bp.py` with `workflow/profiles/slurm` and `config.yaml`; "
            "`results/rhm/x.csv`, `workflow/rules/<branch>.smk`, `hierphase.bp`, `docs/x.md#a`")
    assert cited_paths(text) == {"benchmarks/bench_bp.py", "workflow/profiles/slurm",
                                 "config.yaml", "docs/x.md"}


def test_console_blocks_are_parsed():
    body = "$ a --x \\\n    --y\nout line\n\n$ b\n"
    assert console_commands(body) == [("a --x --y", ["out line"]), ("b", [])]


def test_no_reference_outside_the_repository():
    """The project carries its own account of the science: no text cites files outside it."""
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                              "README.md", "docs", "src", "workflow", "tests",
                              "benchmarks", "envs", "config.yaml", "Snakefile", ".ci", ".github"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in tracked:
        path = REPO / name
        if path.suffix in (".pt", ".png", ".pdf") or not path.is_file() or path == Path(__file__):
            continue
        text = path.read_text(errors="replace")
        hits += [f"{name}: {word}" for word in OUTSIDE if word in text]
    assert not hits, hits
