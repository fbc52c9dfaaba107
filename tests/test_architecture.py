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


# ------------------------------------------------------------------------------ workflow scripts
SCRIPTS = REPO / "workflow/scripts"


def script_calls(source: str, prefix: str) -> list[str]:
    """The dotted names of the hierphase functions under ``prefix`` (``hierphase.stages``) that a
    script calls, one per call site, through whatever import form and alias it uses."""
    tree = ast.parse(source)
    names: dict[str, str] = {}  # local name -> the dotted hierphase name it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    names[alias.name.split(".")[0]] = alias.name.split(".")[0]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts, func = [], node.func
        while isinstance(func, ast.Attribute):
            parts.append(func.attr)
            func = func.value
        if isinstance(func, ast.Name) and func.id in names:
            dotted = ".".join([names[func.id], *reversed(parts)])
            if dotted.startswith(prefix + "."):
                found.append(dotted)
    return found


def workflow_scripts() -> list[Path]:
    return sorted(SCRIPTS.glob("*.py"))


GOOD = '''from hierphase import io, jobs
from hierphase.stages import rhm as stage

jobs.log_to(snakemake.log[0])
table = stage.aggregate_kept(io.read_table(path) for path in snakemake.input.shards)
io.write_table(table, snakemake.output.table, config=jobs.job_config(snakemake.wildcards))
'''
BAD = {
    "no glue": '''from hierphase import io, jobs, rhm
jobs.log_to(snakemake.log[0])
rules = rhm.sample_rules(3, 3, 2, 2, seed=0)
''',
    "two glue calls": '''import hierphase.stages.images as glue
from hierphase.stages.images import sweep_shard
from hierphase.jobs import log_to
log_to(snakemake.log[0])
model = glue.load_sweep_model(0, "ddpm", snakemake.input.model)
x0_hat, record = sweep_shard(model, {}, 0, num_steps=10, seed=0, batch_size=1)
''',
    "glue but no log": '''from hierphase import stages
table = stages.rhm.theory_summary_table(3, 3, 2)
''',
}


def script_problems(source: str) -> list[str]:
    """What keeps a script from the convention: exactly one call of a hierphase.stages function
    and one opening that logs: hierphase.jobs.log_to, or hierphase.jobs.start_device_job (which
    logs, checks the GPU and pins the threads)."""
    problems = []
    glue = script_calls(source, "hierphase.stages")
    if len(glue) != 1:
        problems.append(f"calls {len(glue)} hierphase.stages functions {glue}, not one")
    calls = script_calls(source, "hierphase.jobs")
    if calls.count("hierphase.jobs.log_to") + calls.count("hierphase.jobs.start_device_job") != 1:
        problems.append("does not log once with hierphase.jobs.log_to or start_device_job")
    return problems


@pytest.mark.parametrize("path", workflow_scripts(), ids=lambda p: p.name)
def test_every_script_logs_and_calls_one_glue_function(path):
    assert script_problems(path.read_text()) == []


def test_the_script_check_reads_imports_and_aliases():
    assert script_calls(GOOD, "hierphase.stages") == ["hierphase.stages.rhm.aggregate_kept"]
    assert script_problems(GOOD) == []


@pytest.mark.parametrize("name", sorted(BAD))
def test_the_script_check_catches_a_script_off_the_convention(name):
    assert script_problems(BAD[name]) != []


def test_the_figure_rules_share_one_script():
    """No per-figure scripts: every figure rule runs figure.py (workflow/rules/common.smk)."""
    assert [p.name for p in workflow_scripts() if "_fig_" in p.name] == []
    assert '"../scripts/figure.py"' in (REPO / "workflow/rules/common.smk").read_text()
