"""The layers of the package and the shape of the workflow (docs/architecture.md), checked from
the source: which module may import which, and what the shared workflow files may name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src/hierphase"

#: layer -> the layers it must not import. Science is every module outside these folders and
#: ``jobs`` (a job's runtime: logging, threads); ``devices`` and ``io`` count as science.
FORBIDDEN = {
    "science": {"stages", "plan", "plots", "jobs"},
    "plots": {"stages", "plan", "jobs"},
    "stages": {"plan"},
    "plan": {"stages", "plots", "jobs"},
}


def layer(module: str) -> str:
    """``hierphase.stages.rhm`` -> stages; ``hierphase.rhm`` -> science."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    return top if top in ("stages", "plan", "plots", "jobs") else "science"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(module: str, path: Path) -> set[str]:
    """Every hierphase module ``module`` imports, at any depth of its code (function-level imports
    included), relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}
    return {name for name in found if name == "hierphase" or name.startswith("hierphase.")}


def violations() -> list[str]:
    known = modules()
    wrong = []
    for module, path in known.items():
        for target in imports(module, path):
            if target not in known and target.rsplit(".", 1)[0] in known:
                target = target.rsplit(".", 1)[0]  # `from hierphase.x import name`
            if layer(target) in FORBIDDEN.get(layer(module), set()):
                wrong.append(f"{module} ({layer(module)}) imports {target} ({layer(target)})")
    return sorted(wrong)


def test_no_module_imports_against_the_layers():
    assert violations() == []


def test_the_layer_check_catches_a_wrong_direction(tmp_path, monkeypatch):
    """A science module importing the glue, written into a copy of the package, is found."""
    import shutil

    copy = tmp_path / "src/hierphase"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "rogue.py").write_text("def f():\n    from hierphase.stages.rhm import sweep_shard\n")
    (copy / "plots/rogue.py").write_text("from ..plan import load_plan\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", copy)
    found = violations()
    assert any(v.startswith("hierphase.rogue (science) imports hierphase.stages") for v in found)
    assert any(v.startswith("hierphase.plots.rogue (plots) imports hierphase.plan") for v in found)
    assert all("rogue" in v for v in found), found


def branches() -> list[str]:
    return list(yaml.safe_load((REPO / "workflow/branches.yaml").read_text()))


@pytest.mark.parametrize("path", ["Snakefile", "workflow/rules/common.smk",
                                  "workflow/schemas/config.schema.yaml",
                                  "src/hierphase/plan/config.py", "src/hierphase/plan/branch.py",
                                  "src/hierphase/plan/checks.py", "src/hierphase/plan/figures.py",
                                  "src/hierphase/plan/workflow.py"])
def test_shared_files_name_no_branch(path):
    """What every branch shares names none of them: the branches come from the registry."""
    text = (REPO / path).read_text()
    named = [b for b in branches() if re.search(rf"\b{b}\b", text)]
    if path.endswith("branch.py"):  # the legacy seed table names the one branch it keeps
        named = [b for b in named if b != "learned"]
    assert named == [], f"{path} names {named}"


def test_rule_files_keep_the_rules_only():
    """Planning lives in hierphase.plan: few Python functions and few lines in the .smk files."""
    files = [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]
    defs = sum(len(re.findall(r"^\s*def ", f.read_text(), flags=re.M)) for f in files)
    lines = sum(len(f.read_text().splitlines()) for f in files)
    assert defs <= 10 and lines <= 1900, (defs, lines)
    # common.smk: what the branches share; docs.smk: the docs' numbers, read from all of them
    rule_files = {f.stem for f in (REPO / "workflow/rules").glob("*.smk")} - {"common", "docs"}
    assert rule_files == set(branches())
